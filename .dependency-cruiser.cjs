// The house's import rules (README, "Layout"). `npm test` runs them: a wrong import fails with the rule's name.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-import-cycles",
      comment: "Arrows point one way: a cycle means two modules own one decision.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "db-imports-only-domain",
      comment: "Repositories know rows and the domain's types, never services, Discord or providers.",
      severity: "error",
      from: { path: "^src/db/" },
      to: { path: "^src/", pathNot: "^src/(db|domain)/" },
    },
    {
      name: "discord-js-only-in-discord-commands-app",
      comment: "Services never import discord.js, so the CLI, the bench and tests reuse them.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(discord/|commands/|app\\.ts$)" },
      to: { path: "(^|/)node_modules/(discord\\.js|@discordjs/[^/]+)/" },
    },
    {
      name: "provider-sdks-only-in-providers",
      comment:
        "The FineTuningProvider and chat ports leak no SDK: only src/providers/ imports an AI provider's SDK.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/providers/" },
      to: { path: "(^|/)node_modules/(openai|together-ai|@fireworks-ai/[^/]+|@azure/[^/]+)/" },
    },
    {
      name: "commands-never-import-db",
      comment: "Commands parse options, call a service and render: the database is behind services.",
      severity: "error",
      from: { path: "^src/commands/" },
      to: { path: "^src/db/" },
    },
    {
      name: "sandbox-only-through-factory-or-cli",
      comment: "The sandbox is its own program: only the provider factory and `classtune sandbox` start it.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(sandbox/|providers/factory\\.ts$|cli/sandbox\\.ts$)" },
      to: { path: "^src/sandbox/" },
    },
  ],
  options: {
    parser: "swc",
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(test|bench|demo)/" },
    enhancedResolveOptions: {
      extensions: [".ts", ".js"],
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
