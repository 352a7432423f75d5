import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HookContract } from "../../hooks/contracts";
import { HookInputs, hookRun } from "./hookRun";

/** One run of an applier hook. */
export interface ApplierRunArgs<C extends HookContract> {
    /** Resource name (`database-apply-b`). */
    readonly name: string;
    /** The hook's inputs; credentials among them are Pulumi secrets. Admin credentials are not: hooks inherit them. */
    readonly inputs: HookInputs<C>;
    /** The run repeats when these change (the generations of the slots it applies). */
    readonly triggers: readonly string[];
}

export interface SourceApplierArgs<C extends HookContract> {
    readonly contract: C;
    readonly runs: readonly ApplierRunArgs<C>[];
}

/**
 * Makes a group's credentials valid at their source before anyone is told about them, by running one of our hook
 * programs per run (PostgreSQL roles, Redis ACL, Typesense keys). A hook that fails fails the `up` before any store
 * is written: every store write of the group depends on this component's commands.
 *
 * Type token `buywhere:rotation:SourceApplier`.
 */
export class SourceApplier<C extends HookContract> extends pulumi.ComponentResource {
    public readonly commands: readonly command.local.Command[];

    constructor(name: string, args: SourceApplierArgs<C>, opts?: pulumi.ComponentResourceOptions) {
        super("buywhere:rotation:SourceApplier", name, {}, opts);
        this.commands = args.runs.map((run) => hookRun(run.name, args.contract, run.inputs, run.triggers, { parent: this }));
        this.registerOutputs({});
    }
}
