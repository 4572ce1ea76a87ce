/** The adapter contract: the only module adapters import from `src/`. */
export * from "./adapter.ts";
export * from "./attachments.ts";
export * from "./capabilities.ts";
export * from "./commands.ts";
export * from "./context.ts";
export * from "./conversation.ts";
export * from "./events.ts";
export * from "./forms.ts";
export * from "./portal.ts";
export * from "./registration.ts";
export * from "./session.ts";
export * from "./text.ts";
