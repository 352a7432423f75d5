import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ADMIN_CREDENTIAL_ENVS, HOOK_ADMIN_ENV, UNSAFE_ENVS } from "../../hooks/adminEnv";
import { HookContract, HookName, encodeField } from "../../hooks/contracts";

/**
 * The shell command that runs a hook. The path is relative to the project directory, which is the working
 * directory Pulumi runs local commands in (pulumi-command v1.2.1 `provider/pkg/provider/local/commandOutputs.go`:
 * `cmd.Dir, err = os.Getwd()`), so the command string is identical on every machine: an absolute path would change
 * the resource's inputs, and rerun it, whenever the checkout moved. Inputs reach the hook through the command's
 * environment, never its command line.
 */
export function hookCommand(hook: HookName): string {
    // `env -u` drops every other hook's admin credential and the variables that make libraries print what they send
    // before node starts, so they are not even in /proc/<pid>/environ (hooks/isolateEnv.ts does the same inside the
    // process, for a hook run any other way). `NODE_DEBUG` only this way: node reads it at startup.
    const own = (HOOK_ADMIN_ENV as Record<string, string>)[hook];
    const drop = [...ADMIN_CREDENTIAL_ENVS.filter((name) => name !== own), ...UNSAFE_ENVS, "NODE_DEBUG"];
    return `env ${[...new Set(drop)].map((name) => `-u ${name}`).join(" ")} node --import tsx hooks/${hook}.ts`;
}

/** A hook's inputs as resource inputs: each field a plain value or an Output (a credential). */
export type HookInputs<C extends HookContract> = { readonly [K in keyof C["fields"]]?: pulumi.Input<unknown> };

/**
 * The environment a hook runs with, encoded field by field with its contract, so a secret input stays a Pulumi
 * secret (masked in previews and state) and a plain one stays readable in a diff.
 */
export function hookEnvironment<C extends HookContract>(contract: C, inputs: HookInputs<C>): Record<string, pulumi.Input<string>> {
    const env: Record<string, pulumi.Input<string>> = {};
    for (const [key, field] of Object.entries(contract.fields)) {
        const value = (inputs as Record<string, pulumi.Input<unknown>>)[key];
        if (value === undefined) continue;
        const encode = (v: unknown) => encodeField(contract, key as never, v as never);
        env[field.env] = field.secret
            ? pulumi.secret(pulumi.output(value).apply(encode))
            : pulumi.Output.isInstance(value)
              ? value.apply(encode)
              : encode(value);
    }
    return env;
}

/**
 * One run of a hook program as a `command.local.Command`: the same command string on every machine, inputs in the
 * environment, rerun when a trigger changes (pulumi-command `provider/pkg/provider/common/inputs.go`: `triggers` is
 * replaceOnChanges) and on any other input change (an update reruns `create`: local/commandController.go "Use Create
 * command if Update is unspecified"). Never run during a preview ("If in preview, don't run the command"). The one
 * way our components run hooks.
 */
export function hookRun<C extends HookContract>(
    name: string,
    contract: C,
    inputs: HookInputs<C>,
    triggers: readonly string[],
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: hookCommand(contract.hook),
            environment: hookEnvironment(contract, inputs),
            triggers: [...triggers],
            addPreviousOutputInEnv: false,
            // Fail closed on secrecy (@pulumi/command local/command.d.ts, `logging`: "If there might be secrets in the
            // output, you can disable logging here and mark the outputs as secret via 'additionalSecretOutputs'"): a
            // hook that holds an admin credential streams nothing; the others (ECS redeploy, health check) stream
            // their progress on stderr. Every hook's captured output is kept encrypted in the state.
            logging: contract.adminEnv ? "none" : "stderr",
        },
        { ...opts, additionalSecretOutputs: ["stdout", "stderr"] },
    );
}
