/**
 * The CloudWatch Logs sink of the audit trail: one log event per record, in a stream per stack
 * (`secrets-rotation/<stack>`), created on first use. Loaded only when ROTATION_AUDIT_LOG_GROUP is set.
 */
import {
    CloudWatchLogsClient,
    CreateLogStreamCommand,
    PutLogEventsCommand,
    ResourceAlreadyExistsException,
} from "@aws-sdk/client-cloudwatch-logs";
import type { AuditRecord } from "./audit";

export function auditStreamName(stack: string): string {
    return `secrets-rotation/${stack}`;
}

export async function putAuditEvent(logGroup: string, record: AuditRecord, env: NodeJS.ProcessEnv): Promise<void> {
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const client = new CloudWatchLogsClient({ region: env.AWS_REGION || "ap-southeast-1", retryMode: "adaptive", maxAttempts: 5 });
    try {
        const logStreamName = auditStreamName(record.stack);
        try {
            await client.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName }));
        } catch (err) {
            if (!(err instanceof ResourceAlreadyExistsException)) throw err;
        }
        await client.send(
            new PutLogEventsCommand({
                logGroupName: logGroup,
                logStreamName,
                logEvents: [{ timestamp: Date.parse(record.time), message: JSON.stringify(record) }],
            }),
        );
    } finally {
        client.destroy();
    }
}
