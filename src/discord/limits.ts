// Discord's platform limits, named once (https://discord.com/developers/docs/resources/message).
export const DiscordLimits = {
  messageContent: 2000,
  embedDescription: 4096,
  embedFieldName: 256,
  embedFieldValue: 1024,
  embedFields: 25,
  embedTitle: 256,
  embedFooter: 2048,
  /** Title, description, field names and values, footer and author of all a message's embeds. */
  embedTotal: 6000,
  autocompleteChoices: 25,
  choiceName: 100,
  choiceValue: 100,
  buttonLabel: 80,
  customId: 100,
  modalTextInput: 4000,
  /** Files a bot may upload without server boosts. */
  attachmentBytes: 10 * 1024 * 1024,
  /** An interaction must be acknowledged within 3 s; its token then lives 15 minutes. */
  acknowledgeMs: 3000,
  interactionTokenMs: 15 * 60 * 1000,
} as const;
