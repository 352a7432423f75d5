import type { Argv } from "yargs";
import { GROUPS } from "../../rotation/catalog";

/** `--service`, repeatable. */
export function serviceOption<T>(y: Argv<T>) {
    return y.option("service", {
        type: "string",
        array: true,
        default: [] as string[],
        describe: `rotation group: ${GROUPS.join(", ")} (repeatable)`,
    });
}

/** `--stamp`, for commands that move a stamp. */
export function stampOption<T>(y: Argv<T>) {
    return y.option("stamp", {
        type: "string",
        describe: "explicit stamp (YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHHMMZ, UTC); default: from the clock",
    });
}
