/**
 * Bench accounts on the bench Prosody, created in-band (XEP-0077) over plain sockets.
 *
 * `prosodyctl register` starts a Lua process per account (about a third of a second each), which
 * makes 1000 accounts take minutes; in-band registration over loopback takes milliseconds. The
 * bench Prosody loads mod_register for this (127.0.0.1 is on its allow-list, so no throttle).
 * @xmpp/client has no in-band registration, hence this small exchange on a raw socket: open a
 * stream, wait for its features, send the register iq, read the answer, close.
 */
import { connect } from "node:net";

const REGISTER_ID = "bench-register";

/** Creates one account; an existing account with that name counts as success. */
export async function registerAccount(
  port: number,
  domain: string,
  username: string,
  password: string,
  timeoutMs = 10_000,
): Promise<void> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.setEncoding("utf8");
  let received = "";
  let sentRequest = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms registering ${username}@${domain}`)),
        timeoutMs,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      socket.once("error", (error) => finish(new Error(`registering ${username}: ${error.message}`)));
      socket.once("close", () =>
        finish(new Error(`stream closed while registering ${username}: ${received}`)),
      );
      socket.once("connect", () => {
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`,
        );
      });
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (!sentRequest && received.includes("</stream:features>")) {
          sentRequest = true;
          socket.write(
            `<iq type='set' id='${REGISTER_ID}'><query xmlns='jabber:iq:register'><username>${username}</username><password>${password}</password></query></iq>`,
          );
          return;
        }
        const reply = received.match(new RegExp(`<iq[^>]*id=['"]${REGISTER_ID}['"][^>]*>`))?.[0];
        if (reply === undefined) return;
        if (/type=['"]result['"]/.test(reply) || received.includes("<conflict")) finish();
        else finish(new Error(`registering ${username} was refused: ${received.slice(-500)}`));
      });
    });
  } finally {
    socket.removeAllListeners("close");
    socket.end("</stream:stream>");
    socket.destroy();
  }
}

/** Runs `task` over `items` with at most `limit` at once; the first failure rejects. */
export async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
