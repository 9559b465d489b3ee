// The seed tutorial's EducationalAssistant: the persona a class channel starts with, and the one the
// post-training test questions and `classtune ask` use. One home for its prompt, temperature and length.
export const DEFAULT_SYSTEM_PROMPT = "You are a helpful educational assistant.";
export const DEFAULT_TEMPERATURE = 0.7;
export const DEFAULT_MAX_TOKENS = 500;

/** One message of a chat conversation, as every provider's chat endpoint takes it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}
