/**
 * The CloudWatch Logs sink of the audit trail: one log event per record, in a stream per stack
 * (`secrets-rotation/<stack>`), created on first use. Loaded only when ROTATION_AUDIT_LOG_GROUP is set. The event is
 * the audit file's line exactly (already redacted, hash link included), so the remote copy can vouch for the file.
 */
import {
    CloudWatchLogsClient,
    CreateLogStreamCommand,
    PutLogEventsCommand,
    ResourceAlreadyExistsException,
} from "@aws-sdk/client-cloudwatch-logs";
import { awsClientConfig } from "./awsClient";

export function auditStreamName(stack: string): string {
    return `secrets-rotation/${stack}`;
}

/** Puts one audit line (the record's JSON) into the stack's stream of the log group, in the stack's region. */
export async function putAuditEvent(logGroup: string, stack: string, time: string, message: string, region: string): Promise<void> {
    const client = new CloudWatchLogsClient(awsClientConfig(region));
    try {
        const logStreamName = auditStreamName(stack);
        try {
            await client.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName }));
        } catch (err) {
            if (!(err instanceof ResourceAlreadyExistsException)) throw err;
        }
        await client.send(
            new PutLogEventsCommand({
                logGroupName: logGroup,
                logStreamName,
                logEvents: [{ timestamp: Date.parse(time), message }],
            }),
        );
    } finally {
        client.destroy();
    }
}
