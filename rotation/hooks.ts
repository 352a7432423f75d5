/**
 * How the Pulumi program invokes our hook programs (`hooks/*.ts`) from `command.local.Command`.
 */

/** The hook programs, by file name under `hooks/`. */
export type HookName = "ecsRedeploy" | "healthCheck" | "postgresApply" | "redisApply" | "typesenseApply";

/**
 * The shell command that runs a hook. The path is relative to the project directory, which is the working
 * directory Pulumi runs local commands in, so the command string is identical on every machine (an absolute path
 * would change the resource's inputs, and rerun it, whenever the checkout moved). Inputs reach the hook through the
 * command's environment, never its command line.
 */
export function hookCommand(hook: HookName): string {
    return `node --import tsx hooks/${hook}.ts`;
}
