/**
 * What `revoke --service redis` cannot do on the ElastiCache kind, and what the operator must do instead: one line,
 * the same in the plan's warnings (printed by the CLI before the run) and in the applier's output. Pure.
 *
 * Checked against the documentation:
 * - ModifyUser "Changes user password(s) and/or access string"
 *   (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html); neither it nor any other
 *   action of the ElastiCache API reference documents closing a user's open connections. Redis itself keeps a
 *   connection authenticated when the user's passwords change (`ACL SETUSER ... resetpass` leaves it open: the
 *   double's real Redis shows it in test/elasticacheRevoke.test.ts), so the leaked password's connections stay.
 * - CLIENT is not among ElastiCache's restricted commands ("bgrewriteaof, bgsave, config, debug, migrate, replicaof,
 *   save, slaveof, shutdown, sync": https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.RestrictedCommands.html),
 *   so `CLIENT KILL USER <user>` ("closes all the connections that are authenticated with the specified ACL
 *   username", https://redis.io/docs/latest/commands/client-kill/) works there for a user whose access string allows
 *   it (`client|kill` is an @admin command). It acts on the node it is sent to, so every node: primary and replicas.
 * - The applier holds no Redis login on this kind (the run's AWS credentials only), so it cannot send it itself.
 */
export function elasticacheOpenSessionsWarning(user: string): string {
    return (
        `revoke of redis on ElastiCache: once ModifyUser is active the leaked password opens no new connection, but connections it already authenticated stay open ` +
        `(the ElastiCache API documents no call that closes them, and this kind's applier holds no Redis login); CLIENT KILL is not restricted on ElastiCache: ` +
        `on every node of the cache (primary and replicas), as a user allowed client|kill, run CLIENT KILL USER ${user} — the application's clients reconnect with the current password`
    );
}
