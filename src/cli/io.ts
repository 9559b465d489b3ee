// What every CLI command receives: its streams and environment, and the usage error it may throw.
import { UserError } from "../domain/errors.ts";

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

export type CliCommand = (args: string[], io: CliIo) => Promise<number>;

/** Thrown for bad arguments: printed as one line, exit 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, "usage");
  }
}
