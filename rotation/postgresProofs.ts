/**
 * The PostgreSQL applier's proofs before anything is published, from the stack file: the replica login
 * (`rotation:database.proveReplica`), PgBouncer in auth_file mode (`rotation:database.pgbouncer`) and the read/write
 * canary (`rotation:database.canary`). Pure: the plan spreads these into each `postgresApply` run's inputs
 * (hooks/contracts.ts `postgresApplyContract`: PG_REPLICA, PG_PGBOUNCER, PG_CANARY).
 */
import type { Settings } from "./settings";

export interface PostgresProofInputs {
    readonly replica: { readonly host: string; readonly port: number } | undefined;
    readonly pgbouncer:
        | {
              readonly host: string;
              readonly port: number;
              readonly adminUser: string;
              readonly database: string;
              readonly authFile: { readonly path: string } | { readonly secret: { readonly namespace: string; readonly name: string; readonly key: string } };
              readonly reloadTimeoutSeconds: number;
              readonly context: string | undefined;
          }
        | undefined;
    readonly canary: true | undefined;
}

export function postgresProofInputs(settings: Settings): PostgresProofInputs {
    const db = settings.database;
    const bouncer = db.pgbouncer;
    return {
        replica: db.proveReplica ? { host: db.replicaHost, port: db.port } : undefined,
        pgbouncer: bouncer
            ? {
                  host: db.pgbouncerHost,
                  port: db.pgbouncerPort,
                  adminUser: bouncer.adminUser,
                  database: db.name,
                  authFile: bouncer.authFile.secret ? { secret: bouncer.authFile.secret } : { path: bouncer.authFile.path! },
                  reloadTimeoutSeconds: bouncer.reloadTimeoutSeconds,
                  // The Secret is reached with the kubeconfig context the Kubernetes provider uses.
                  context: settings.kubernetes?.context,
              }
            : undefined,
        canary: db.canary ? true : undefined,
    };
}
