// A UserError carries a message meant for the person who asked: shown as-is (Discord reply, CLI stderr).
// Anything else is a bug or an outage: logged with context, and the user gets a short generic message.
export class UserError extends Error {
  constructor(
    message: string,
    readonly code = "user_error",
  ) {
    super(message);
    this.name = "UserError";
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
