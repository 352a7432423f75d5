import type { Argv, CommandModule } from "yargs";
import type { PolicyArgs } from "../actions/policy";
import { CliContext, GlobalArgs } from "../context";
import { lazy } from "./shared";

/** `policy`: the stack's least-privilege IAM policy and Kubernetes RBAC, generated from its stack file. */
export function policyCommand(ctx: CliContext): CommandModule<GlobalArgs, PolicyArgs> {
    return lazy(ctx, {
        command: "policy",
        describe: "Print (or --write to policy/<stack>/) the stack's least-privilege IAM policy, its role's trust policy and Kubernetes RBAC, offline from its stack file and policy/ci.json",
        builder: (y: Argv<GlobalArgs>) =>
            y
                .option("write", { type: "boolean", default: false, describe: "write policy/<stack>/iam-policy.json, trust-policy.json and k8s-rbac.yaml instead of printing" })
                .example([
                    ["$0 policy --stack production", "what the production rotation role and Role grant"],
                    ["$0 policy --stack staging --write", "regenerate the committed files after a stack-file change"],
                ]) as unknown as Argv<PolicyArgs>,
        load: () => (require("../actions/policy") as typeof import("../actions/policy")).runPolicy,
    });
}
