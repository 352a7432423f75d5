/**
 * Fault injection, part 1 of 3: a rotate-all failing at each slot's generation (RandomPassword, the R2 token), each
 * source applier and each SecretVersion — before and after its side effect — then each documented recovery. The
 * scenarios and invariants: test/support/faultMatrix.ts; the matrix: README "Limits and guarantees".
 */
import { defineFaultMatrix } from "./support/faultMatrixSuite";

defineFaultMatrix({
    title: "generate, apply, publish to AWS",
    mode: "rotation",
    kinds: ["RandomPassword (slot)", "R2 token (slot)", "applier", "SecretVersion"],
    deletes: false,
    atLeast: 39,
});
