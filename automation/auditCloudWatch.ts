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
import type { AuditRecord } from "./auditRecord";
import { awsClientConfig } from "./awsClient";

export function auditStreamName(stack: string): string {
    return `secrets-rotation/${stack}`;
}

/** Puts the record into the log group, in the stack's region. */
export async function putAuditEvent(logGroup: string, record: AuditRecord, region: string): Promise<void> {
    const client = new CloudWatchLogsClient(awsClientConfig(region));
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
