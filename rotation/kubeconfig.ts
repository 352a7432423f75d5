/**
 * Which API server a kubeconfig context talks to, for the `local` stack's rule that it reaches only this machine.
 * Pure: the caller reads the files.
 *
 * Merging follows kubectl's rules (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/#merging-kubeconfig-files):
 * the files of KUBECONFIG are read in order, "the first file to set a particular map key wins" (a context or cluster
 * of a given name), and the current context is the first file's `current-context` that sets one.
 */
import { parse } from "yaml";

interface Named<T> {
    readonly name?: string;
    readonly context?: T;
    readonly cluster?: T;
}

interface KubeconfigDoc {
    readonly "current-context"?: string;
    readonly contexts?: readonly Named<{ readonly cluster?: string }>[];
    readonly clusters?: readonly Named<{ readonly server?: string }>[];
}

/** The files kubectl reads: KUBECONFIG's list (`:`-separated, empty entries skipped), else `~/.kube/config`. */
export function kubeconfigPaths(kubeconfigEnv: string | undefined, home: string): string[] {
    const listed = (kubeconfigEnv ?? "").split(":").filter((p) => p !== "");
    return listed.length > 0 ? listed : [`${home}/.kube/config`];
}

/**
 * The server URL of `context` (default: the merged current context), or a reason it cannot be told.
 * @param files the texts of the kubeconfig files, in KUBECONFIG order.
 */
export function contextServer(files: readonly string[], context: string | undefined): { server: string } | { problem: string } {
    const docs = files.map((text) => (parse(text) ?? {}) as KubeconfigDoc);
    const name = context ?? docs.find((d) => d["current-context"])?.["current-context"];
    if (!name) return { problem: "no context is named (`rotation:kubernetes.context`, K8S_CONTEXT) and the kubeconfig has no current-context" };
    const ctx = docs.flatMap((d) => d.contexts ?? []).find((c) => c.name === name)?.context;
    if (!ctx?.cluster) return { problem: `the kubeconfig has no context ${JSON.stringify(name)} with a cluster` };
    const cluster = docs.flatMap((d) => d.clusters ?? []).find((c) => c.name === ctx.cluster)?.cluster;
    if (!cluster?.server) return { problem: `the kubeconfig has no cluster ${JSON.stringify(ctx.cluster)} with a server` };
    return { server: cluster.server };
}
