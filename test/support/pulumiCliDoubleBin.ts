/**
 * Entry of the `pulumi` CLI DOUBLE (./pulumiCliDouble.ts; it is not Pulumi), run by the `pulumi` script that
 * `installPulumiDouble` writes. Exits when the invocation is done (the emulator's program may leave handles open).
 */
import { main } from "./pulumiCliDouble";

main(process.argv.slice(2)).then(
    (code) => {
        // Let stdout/stderr drain before exiting.
        process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
    },
    (err: unknown) => {
        process.stderr.write(`error: pulumi CLI double crashed: ${String(err)}\n`);
        process.exit(70);
    },
);
