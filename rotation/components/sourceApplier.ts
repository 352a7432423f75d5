import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HookName } from "../hooks";
import { hookRun } from "./hookRun";

/** One run of an applier hook. */
export interface ApplierRun {
    /** Child name suffix (`a`, `b`, `acl`). */
    readonly suffix: string;
    /** The hook's inputs; credentials among them are Pulumi secrets. Admin credentials are not: hooks inherit them. */
    readonly environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The run repeats when these change (the slot stamps it applies). */
    readonly triggers: readonly string[];
}

export interface SourceApplierArgs {
    readonly hook: HookName;
    readonly runs: readonly ApplierRun[];
}

/**
 * Makes a group's credentials valid at their source before anyone is told about them (`<name>-<suffix>`), by
 * running one of our hook programs (PostgreSQL roles, Redis ACL, Typesense keys). A hook that fails fails the
 * `up` before any store is written. Every store write of the group depends on this component's commands.
 *
 * Type token `buywhere:rotation:SourceApplier`.
 */
export class SourceApplier extends pulumi.ComponentResource {
    public readonly commands: readonly command.local.Command[];

    constructor(name: string, args: SourceApplierArgs, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:SourceApplier", name, {}, opts);
        this.commands = args.runs.map((run) => hookRun(`${name}-${run.suffix}`, args.hook, run.environment, run.triggers, { parent: this }));
        this.registerOutputs({});
    }
}
