/**
 * Ctrl-C while Pulumi runs: the first one cancels (Pulumi finishes the operations in flight and stops), the second
 * terminates, a third stops waiting. Pulumi must receive exactly one SIGINT per Ctrl-C:
 *
 * - Pulumi counts signals: the first SIGINT (or SIGTERM) prints "^C received; cancelling", the next one
 *   "^C received; terminating" (pulumi/pulumi pkg/backend/cancellation_scope.go @3d2b7ded, `NewScope`); terminating
 *   may leave pending operations and a locked stack.
 * - The Automation API starts `pulumi` with execa's defaults, not detached (@pulumi/pulumi 3.248.0
 *   automation/cmd.js `exec`: `execa(command, args, { env, cwd })`; execa 5.1.1 index.js sets no `detached`), so it is
 *   in our process group. A terminal delivers Ctrl-C's SIGINT to its whole foreground process group (termios ISIG;
 *   proc(5) `tpgid`: "the foreground process group of the controlling terminal"): Pulumi already has it.
 * - On abort of the signal passed to `up`/`preview`, the Automation API sends its own `proc.kill("SIGINT")`
 *   (automation/cmd.js `exec`, the `signal.addEventListener("abort", ...)` handler).
 *
 * So where the terminal signals the whole group, the CLI forwards nothing; where it does not (a cancelled GitHub
 * Actions step, `kill -INT <pid>`, any SIGTERM: the signal reaches this process only), the CLI forwards one SIGINT per
 * interrupt.
 */
import { readFileSync } from "node:fs";

/** What one interrupt does. */
export interface InterruptAction {
    /** Abort the run's signal: the command stops, reports and audits `cancelled`. */
    readonly cancel: boolean;
    /** Send the running `pulumi` one SIGINT ourselves (the terminal did not). */
    readonly forward: boolean;
    /** Stop waiting for Pulumi and exit now. */
    readonly exit: boolean;
    /** One line for stderr. */
    readonly message: string;
}

/**
 * What the `count`-th interrupt (1-based) does. Pure.
 *
 * @param fromTerminal the terminal delivered it to our whole foreground process group, `pulumi` included
 */
export function onInterrupt(count: number, fromTerminal: boolean): InterruptAction {
    const forward = !fromTerminal;
    if (count === 1) {
        return {
            cancel: true,
            forward,
            exit: false,
            message: "interrupt: cancelling; Pulumi finishes the operations in flight (Ctrl-C again to terminate it: may leave pending operations)",
        };
    }
    if (count === 2) {
        return { cancel: false, forward, exit: false, message: "interrupt: terminating Pulumi (Ctrl-C again to exit without waiting for it)" };
    }
    return { cancel: false, forward: false, exit: true, message: "interrupt: exiting without waiting for Pulumi" };
}

/**
 * Whether this process is in the foreground process group of its controlling terminal, from the text of
 * `/proc/self/stat` (proc(5): field 5 `pgrp`, 7 `tty_nr` — 0 without a controlling terminal — and 8 `tpgid`). Pure.
 */
export function foregroundOfTerminal(stat: string): boolean {
    // Field 2 (`comm`) is in parentheses and may hold spaces: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [pgrp, ttyNr, tpgid] = [fields[2], fields[4], fields[5]].map(Number);
    return ttyNr !== 0 && Number.isInteger(pgrp) && pgrp === tpgid;
}

/**
 * Whether a Ctrl-C reaching this process was delivered by a terminal to its whole foreground process group. Read at
 * the moment of the interrupt; where `/proc` is missing (macOS), whether stdin is a terminal.
 */
export function interruptFromTerminal(): boolean {
    try {
        return foregroundOfTerminal(readFileSync("/proc/self/stat", "utf8"));
    } catch {
        return process.stdin.isTTY === true;
    }
}
