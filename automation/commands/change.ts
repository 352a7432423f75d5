import type { Argv, CommandModule } from "yargs";
import type { ChangeArgs } from "../actions/change";
import { CliContext, GlobalArgs } from "../context";
import { ChangeCommand, PROVIDER_CHOICES } from "../request";
import { lazy, serviceOption, stampOption } from "./shared";

interface Spec {
    readonly command: ChangeCommand;
    readonly describe: string;
    readonly service: boolean;
    readonly provider: boolean;
    readonly examples: readonly [string, string][];
}

const SPECS: readonly Spec[] = [
    {
        command: "rotate",
        describe: "Rotate the named groups: new stamp, regenerate each group's inactive slot, publish, restart, health-check",
        service: true,
        provider: true,
        examples: [
            ["$0 rotate --service database --stack staging", "rotate the database group on both providers"],
            ["$0 rotate --service jwt --provider aws --stack production --yes", "AWS (Secrets Manager + ECS) only; Kubernetes held"],
            ["$0 rotate --service jwt --provider k8s --stack production --yes", "then catch Kubernetes up"],
        ],
    },
    {
        command: "rotate-all",
        describe: "Rotate every group (the monthly rotation)",
        service: false,
        provider: false,
        examples: [["$0 rotate-all --dry-run --stack production", "preview the monthly rotation"]],
    },
    {
        command: "restart",
        describe: "Restart consumers without rotating (bumps a restart stamp)",
        service: true,
        provider: true,
        examples: [["$0 restart --provider k8s --stack staging", "roll every Deployment"]],
    },
    {
        command: "rollback",
        describe: "Make a group's other slot active again (its credential is still valid), republish and restart; no regeneration",
        service: true,
        provider: false,
        examples: [["$0 rollback --service redis --stack production --yes", "undo redis's last rotation"]],
    },
];

/** The four commands that change (or preview a change of) the stack, one module each, sharing one action. */
export function changeCommands(ctx: CliContext): CommandModule<GlobalArgs, ChangeArgs>[] {
    return SPECS.map((spec) =>
        lazy(ctx, {
            command: spec.command,
            describe: spec.describe,
            builder: (y: Argv<GlobalArgs>) => {
                let b = stampOption(y).option("dry-run", { type: "boolean", default: false, describe: "preview only (pulumi preview): change nothing" });
                if (spec.service) b = serviceOption(b) as typeof b;
                if (spec.provider) {
                    b = b.option("provider", {
                        choices: PROVIDER_CHOICES,
                        default: "all" as const,
                        describe: "limit to AWS (Secrets Manager + ECS) or Kubernetes; the other provider is held back",
                    }) as typeof b;
                }
                for (const [cmd, what] of spec.examples) b = b.example(cmd, what);
                return b as unknown as Argv<ChangeArgs>;
            },
            load: () => {
                const { runChange } = require("../actions/change") as typeof import("../actions/change");
                return (c, args) => runChange(c, spec.command, { ...args, service: args.service ?? [], provider: args.provider ?? "all" });
            },
        }),
    );
}
