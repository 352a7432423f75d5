/**
 * Fault injection, part 3 of 3: `aws.secretsmanager.Secret` is `same` in a rotation, so each Secret fails during a
 * first deployment instead (the import of an existing secret, or the create of a missing one — before and after),
 * each from a stack never deployed, then each documented recovery.
 */
import { defineFaultMatrix } from "./support/faultMatrixSuite";

defineFaultMatrix({
    title: "Secrets in a first deployment",
    mode: "first-deployment",
    kinds: ["Secret"],
    deletes: false,
    atLeast: 16,
});
