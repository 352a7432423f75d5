import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HookName, hookCommand } from "../hooks";

/**
 * One run of a hook program as a `command.local.Command`: the same command string on every machine, inputs in the
 * environment (never on the command line), rerun when a trigger changes. The one way our components run hooks.
 */
export function hookRun(
    name: string,
    hook: HookName,
    environment: pulumi.Input<Record<string, pulumi.Input<string>>>,
    triggers: readonly string[],
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        { create: hookCommand(hook), environment, triggers: [...triggers], addPreviousOutputInEnv: false },
        opts,
    );
}
