/**
 * Fault injection, part 2 of 3: a rotate-all failing at the Kubernetes Secret write, each ECS redeploy, each
 * DeploymentPatch and the health gate — before and after its side effect — and at each delete at the end that
 * reaches a provider (the replaced R2 token, replaced slots and commands), then each documented recovery.
 */
import { defineFaultMatrix } from "./support/faultMatrixSuite";

defineFaultMatrix({
    title: "K8s write, restarts, health gate, deletes",
    mode: "rotation",
    kinds: ["K8s SecretPatch", "ECS redeploy", "K8s DeploymentPatch", "health gate"],
    deletes: true,
    atLeast: 25,
});
