import type { Argv, CommandModule } from "yargs";
import type { ChangeArgs } from "../actions/change";
import { CliContext, GlobalArgs } from "../context";
import { ChangeCommand, PROVIDER_CHOICES } from "../request";
import { lazy, serviceOption, stampOption, yesOption } from "./shared";

interface Spec {
    readonly command: ChangeCommand;
    readonly describe: string;
    readonly service: boolean;
    readonly provider: boolean;
    /** Takes `--stamp` (the commands that start a new period); the others refuse it as an unknown option. */
    readonly stamp?: boolean;
    readonly examples: readonly [string, string][];
}

const SPECS: readonly Spec[] = [
    {
        command: "rotate",
        stamp: true,
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
        stamp: true,
        describe: "Rotate every group (the monthly rotation)",
        service: false,
        provider: false,
        examples: [["$0 rotate-all --dry-run --stack production", "preview the monthly rotation"]],
    },
    {
        command: "restart",
        stamp: true,
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
    {
        command: "retire",
        describe: "Regenerate a group's inactive slot and keep the current one: the previous credential stops working (after its grace period)",
        service: true,
        provider: false,
        examples: [["$0 retire --service api-key --stack production --yes", "the previous API key stops working now"]],
    },
    {
        command: "adopt",
        describe:
            "First deployment of a stack whose secrets are in use: keep the values in use (both stores must agree) as slot a, generate slot b; nothing published, nobody restarted",
        service: false,
        provider: false,
        examples: [
            ["$0 adopt --dry-run --stack production", "list the secrets and versions it would adopt, and what it keeps"],
            ["$0 adopt --stack production --yes", "adopt; the next rotation makes slot b current, the one after retires the adopted values"],
        ],
    },
    {
        command: "revoke",
        describe: "A credential leaked: make the other slot current and restart onto it, then retire the leaked slot and end its open sessions",
        service: true,
        provider: false,
        examples: [["$0 revoke --service database --stack production --yes", "both database slots end up fresh; sessions of the leaked role are ended"]],
    },
];

/** The commands that change (or preview a change of) the stack, one module each, sharing one action. */
export function changeCommands(ctx: CliContext): CommandModule<GlobalArgs, ChangeArgs>[] {
    return SPECS.map((spec) =>
        lazy(ctx, {
            command: spec.command,
            describe: spec.describe,
            builder: (y: Argv<GlobalArgs>) => {
                let b = yesOption(y).option("dry-run", { type: "boolean", default: false, describe: "preview only (pulumi preview): change nothing" });
                if (spec.stamp) b = stampOption(b) as typeof b;
                if (spec.service) b = serviceOption(b) as typeof b;
                if (spec.command === "rollback") {
                    b = b.option("revoke", {
                        type: "boolean",
                        describe: "the rolled-back credential leaked: after the rollback, regenerate its slot so it is not kept as the previous one (its sessions ended)",
                    }) as typeof b;
                }
                if (spec.command !== "adopt") {
                    b = b.option("first-deployment", {
                        type: "boolean",
                        describe: "the stack has no state and nothing uses its secrets yet: generate every slot (otherwise run adopt first)",
                    }) as typeof b;
                }
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
