/**
 * MULTI/EXEC that fails loudly. ioredis resolves `exec()` even when a command inside the
 * transaction failed (the error sits in the result array), and with null when a WATCHed key
 * changed; both would otherwise pass as success.
 */
import type { ChainableCommander } from "ioredis";

/** Runs the transaction and returns each command's result; throws the first command error. */
export async function execAll(transaction: ChainableCommander): Promise<unknown[]> {
  const replies = await transaction.exec();
  if (replies === null) throw new Error("redis transaction aborted");
  return replies.map(([error, result]) => {
    if (error !== null) throw error;
    return result;
  });
}
