/**
 * Stack files: which stacks exist (a `Pulumi.<stack>.yaml` beside `Pulumi.yaml`) and their validated settings,
 * read offline with no credentials and no Pulumi CLI.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { EnvOverrides, Settings, parseSettings } from "../rotation/settings";
import { RotationInputError } from "../rotation/errors";
import { CliError, EXIT } from "./errors";

/**
 * The project directory: the nearest directory above this module's that holds Pulumi.yaml. This module runs from
 * `automation/` under tsx and the tests, and from the CLI's bundle in `dist/` (bin/bundle.js).
 */
export const PROJECT_DIR = projectDirAbove(__dirname);

function projectDirAbove(start: string): string {
    for (let dir = dirname(start); ; dir = dirname(dir)) {
        if (existsSync(join(dir, "Pulumi.yaml"))) return dir;
        if (dirname(dir) === dir) throw new Error(`no Pulumi.yaml above ${start}`);
    }
}

/** Stack names that have a stack file, sorted. */
export function knownStacks(dir = PROJECT_DIR): string[] {
    return readdirSync(dir)
        .map((f) => /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** Checks `--stack`: required, and one of the stack files. */
export function requireStack(stack: string | undefined, dir = PROJECT_DIR): string {
    const stacks = knownStacks(dir);
    if (stack === undefined || stack === "") {
        throw new CliError(EXIT.usage, `--stack is required: one of ${stacks.join(", ")}`);
    }
    if (!stacks.includes(stack)) {
        throw new CliError(EXIT.stackNotFound, `unknown stack ${JSON.stringify(stack)}: no Pulumi.${stack}.yaml (stacks: ${stacks.join(", ")})`);
    }
    return stack;
}

/** The raw `config:` map of a stack file. */
export function readStackConfig(stack: string, dir = PROJECT_DIR): Record<string, unknown> {
    const file = join(dir, `Pulumi.${stack}.yaml`);
    if (!existsSync(file)) {
        throw new CliError(EXIT.stackNotFound, `unknown stack ${JSON.stringify(stack)}: no Pulumi.${stack}.yaml`);
    }
    let doc: unknown;
    try {
        doc = parse(readFileSync(file, "utf8"));
    } catch (err) {
        throw new CliError(EXIT.usage, `Pulumi.${stack}.yaml is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
    }
    const config = (doc as { config?: unknown } | null)?.config;
    if (config === undefined || config === null) {
        throw new CliError(EXIT.usage, `Pulumi.${stack}.yaml has no \`config:\` mapping`);
    }
    if (typeof config !== "object" || Array.isArray(config)) {
        const what = Array.isArray(config) ? "a list" : `a ${typeof config} (${JSON.stringify(config)})`;
        throw new CliError(EXIT.usage, `Pulumi.${stack}.yaml: \`config:\` is ${what}, not a mapping of \`rotation:<key>: <value>\``);
    }
    return config as Record<string, unknown>;
}

/** The validated settings of a stack, with environment overrides applied. Bad config is a usage error (exit 2). */
export function loadSettings(stack: string, env: EnvOverrides, dir = PROJECT_DIR): Settings {
    try {
        return parseSettings(readStackConfig(stack, dir), env, stack);
    } catch (err) {
        if (err instanceof RotationInputError) {
            // An environment variable is named as itself (and the stack file it conflicts with by name), not as the file.
            if (/^[A-Z][A-Z0-9_]*$/.test(err.key)) throw new CliError(EXIT.usage, err.message.replace("in the stack file", `in Pulumi.${stack}.yaml`));
            throw new CliError(EXIT.usage, `Pulumi.${stack}.yaml: ${err.message}`);
        }
        throw err;
    }
}
