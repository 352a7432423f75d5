import type { Argv } from "yargs";
import { GROUPS } from "../../rotation/catalog";

/** `--service` (repeatable) and `--stamp`, shared by the commands that take them. */
export function serviceOptions<T>(y: Argv<T>) {
    return y
        .option("service", {
            type: "string",
            array: true,
            default: [] as string[],
            describe: `rotation group: ${GROUPS.join(", ")} (repeatable)`,
        })
        .option("stamp", { type: "string", describe: "explicit stamp (YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHHMMZ, UTC); default: from the clock" });
}
