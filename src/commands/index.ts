// Every slash command and component handler, read by the runtime (src/app.ts) and the deploy script.
import type { Command, ComponentHandler } from "../discord/command.ts";
import config from "./config.ts";

export const commands: readonly Command[] = [config];

export const components: readonly ComponentHandler[] = [];
