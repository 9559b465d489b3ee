// A job's estimate, as JobService.quote() makes it and the confirmation keeps it until Start.

export interface QuoteRequest {
  guildId: string;
  datasetId: number;
  /** Default: the model the dataset was validated for. */
  model?: string | undefined;
  /** A configured fine-tuning provider's name; default FINETUNE_DEFAULT_PROVIDER. */
  provider?: string | undefined;
  /** Default: the provider's "auto" (the estimate uses OpenAI's default-epochs rule). */
  epochs?: number | undefined;
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
}
