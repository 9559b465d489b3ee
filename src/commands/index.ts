// Every slash command and component handler, read by the runtime (src/app.ts) and the deploy script.
import type { Command, ComponentHandler } from "../discord/command.ts";
import ask, { correctAnswer, followUp, voteButton } from "./ask.ts";
import classroom from "./classroom.ts";
import config from "./config.ts";
import dataset from "./dataset.ts";
import finetune, { finetuneButtons } from "./finetune.ts";
import model, { hostingButtons } from "./model.ts";
import privacy, { confirmDelete } from "./privacy.ts";
import review, { reviewButtons } from "./review.ts";
import { safetyAlertButtons } from "./safetyAlerts.ts";
import usage from "./usage.ts";

export const commands: readonly Command[] = [
  config,
  ask,
  model,
  classroom,
  usage,
  review,
  dataset,
  finetune,
  privacy,
];

export const components: readonly ComponentHandler[] = [
  voteButton,
  correctAnswer,
  followUp,
  reviewButtons,
  finetuneButtons,
  hostingButtons,
  confirmDelete,
  safetyAlertButtons,
];
