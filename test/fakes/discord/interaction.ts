// One interaction the fake Discord dispatched to the bot (a slash command, autocomplete, button click or modal
// submit), and everything the bot answered to it: the callback, the original message, the follow-ups.
import {
  type APIApplicationCommandOptionChoice,
  type APIInteraction,
  InteractionResponseType,
  type InteractionType,
  MessageFlags,
} from "discord.js";
import type { FakeChannel, FakeGuild, FakeMessage, FakeUser, UploadedFile } from "./model.ts";

/** One `POST /interactions/:id/:token/callback` the bot made. */
export interface InteractionCallback {
  type: InteractionResponseType;
  /** The `data` of the callback body (message fields, choices, or the modal). */
  data: Record<string, unknown>;
  files: UploadedFile[];
  at: number;
}

export interface WaitOptions {
  /** How long to wait before failing. Default: the fake's defaultTimeoutMs (10,000 ms). */
  timeoutMs?: number | undefined;
}

/** The parts of the fake an interaction needs; implemented by FakeDiscord. */
export interface InteractionHost {
  message(id: string): FakeMessage | undefined;
  waitFor<T>(
    description: () => string,
    check: () => T | undefined,
    timeoutMs: number | undefined,
  ): Promise<T>;
}

export class FakeInteraction {
  /** Every callback the bot made for this interaction (Discord accepts only one; later ones are refused). */
  readonly callbacks: InteractionCallback[] = [];
  /** Ids of the follow-up messages, in order. */
  readonly followUpIds: string[] = [];
  /** The id of the message that `@original` refers to, once there is one. */
  originalMessageId: string | undefined;

  constructor(
    private readonly host: InteractionHost,
    readonly id: string,
    readonly token: string,
    readonly type: InteractionType,
    /** The INTERACTION_CREATE payload exactly as dispatched. */
    readonly payload: APIInteraction,
    readonly guild: FakeGuild,
    readonly channel: FakeChannel,
    readonly user: FakeUser,
    /** For button clicks and modal submits from a message: the message the component lives on. */
    readonly sourceMessage: FakeMessage | undefined,
    /** When the fake dispatched it (by the fake's clock). */
    readonly createdAt: number,
  ) {}

  /** The accepted callback, if the bot acknowledged the interaction. */
  get callback(): InteractionCallback | undefined {
    return this.callbacks[0];
  }

  get acknowledged(): boolean {
    return this.callbacks.length > 0;
  }

  /** Milliseconds from dispatch to the callback (Discord requires under 3,000). */
  get ackLatencyMs(): number | undefined {
    return this.callback ? this.callback.at - this.createdAt : undefined;
  }

  /** Whether the bot deferred (type 5, "thinking…", or type 6, deferred update). */
  get deferred(): boolean {
    const type = this.callback?.type;
    return (
      type === InteractionResponseType.DeferredChannelMessageWithSource ||
      type === InteractionResponseType.DeferredMessageUpdate
    );
  }

  /** Whether the response is ephemeral (flag 64 on the reply or the deferral). */
  get ephemeral(): boolean {
    const original = this.original();
    if (original && original !== this.sourceMessage) return original.ephemeral;
    const flags = Number(this.callback?.data.flags ?? 0);
    return (flags & MessageFlags.Ephemeral) !== 0;
  }

  /** Autocomplete: the choices the bot returned (undefined until it answered). */
  get choices(): APIApplicationCommandOptionChoice[] | undefined {
    if (this.callback?.type !== InteractionResponseType.ApplicationCommandAutocompleteResult)
      return undefined;
    return (this.callback.data.choices ?? []) as APIApplicationCommandOptionChoice[];
  }

  /** The modal the bot opened in answer (callback type 9), if any. */
  get modal(): Record<string, unknown> | undefined {
    return this.callback?.type === InteractionResponseType.Modal ? this.callback.data : undefined;
  }

  /** Waits for the bot's callback (the acknowledgement) and returns it. */
  response(options: WaitOptions = {}): Promise<InteractionCallback> {
    return this.host.waitFor(
      () => `the bot to acknowledge interaction ${this.describe()}`,
      () => this.callback,
      options.timeoutMs,
    );
  }

  /** The message `@original` refers to (the reply, or for an update the clicked message), as it stands now. */
  original(): FakeMessage | undefined {
    return this.originalMessageId ? this.host.message(this.originalMessageId) : undefined;
  }

  /**
   * Waits until the original message satisfies `predicate`. The default predicate waits for a finished reply:
   * not the "thinking…" placeholder of a deferral.
   */
  waitForOriginal(
    predicate: (message: FakeMessage) => boolean = (m) => !m.loading,
    options: WaitOptions = {},
  ): Promise<FakeMessage> {
    return this.host.waitFor(
      () =>
        `the original reply to ${this.describe()} to match (now: ${JSON.stringify(this.original()?.toAPI() ?? null)})`,
      () => {
        const message = this.original();
        return message && predicate(message) ? message : undefined;
      },
      options.timeoutMs,
    );
  }

  /** The follow-up messages, as they stand now. */
  followUps(): FakeMessage[] {
    return this.followUpIds
      .map((id) => this.host.message(id))
      .filter((m): m is FakeMessage => m !== undefined);
  }

  /** Waits for a follow-up matching `predicate` (default: any). */
  waitForFollowUp(
    predicate: (message: FakeMessage) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<FakeMessage> {
    return this.host.waitFor(
      () => `a follow-up to ${this.describe()} (now: ${this.followUps().length} follow-ups)`,
      () => this.followUps().find(predicate),
      options.timeoutMs,
    );
  }

  /** Every message this interaction produced: the original (if it is not the clicked message) and the follow-ups. */
  messages(): FakeMessage[] {
    const original = this.original();
    return [...(original && original !== this.sourceMessage ? [original] : []), ...this.followUps()];
  }

  private describe(): string {
    const data = this.payload.data as { name?: string; custom_id?: string } | undefined;
    return `${this.id} (${data?.name ? `/${data.name}` : (data?.custom_id ?? "?")})`;
  }
}
