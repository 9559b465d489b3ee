// A job's estimate, as JobService.quote() makes it and the confirmation keeps it until Start.
import type { JobMethod, PreferenceBilling } from "../datasets/estimate.ts";

export interface QuoteRequest {
  guildId: string;
  datasetId: number;
  /** Default: the model the dataset was validated for. */
  model?: string | undefined;
  /** A configured fine-tuning provider's name; default FINETUNE_DEFAULT_PROVIDER. */
  provider?: string | undefined;
  /** Default: the provider's "auto" (the estimate uses OpenAI's default-epochs rule). */
  epochs?: number | undefined;
  /** Default: the dataset's ("dpo" for a preference file); "dpo" needs a provider and model with DPO. */
  method?: JobMethod | undefined;
  /** DPO only: the provider's default when unset. */
  beta?: number | undefined;
  /** A succeeded job of this guild whose fine-tuned model is trained further (its provider, its base's rules). */
  fromJobId?: number | undefined;
}

/** What a job will cost, estimated once, within the cap: what the confirmation shows and start() trains on. */
export interface Quote {
  guildId: string;
  datasetId: number;
  /** The configured provider the job goes to (one that takes jobs). */
  provider: string;
  model: string;
  epochs: number | undefined;
  /** The epochs the estimate assumed (the requested ones, or the default rule's). */
  estimatedEpochs: number;
  estimatedCostUsd: number;
  maxJobCostUsd: number;
  /** Absent on quotes made before DPO (read as "supervised"). */
  method?: JobMethod | undefined;
  beta?: number | undefined;
  /** The fine-tuned model the job starts from (sent as the create's model); `model` is its base, whose rules apply. */
  fromModel?: string | undefined;
  fromJobId?: number | undefined;
  /** DPO: how the estimate priced it (estimate.ts). */
  preferenceBilling?: PreferenceBilling | undefined;
}
