/**
 * How the CLI's AWS SDK clients are configured (Secrets Manager for `status`, CloudWatch Logs for the audit sink):
 * in the stack's region (`rotation:aws.region`, the one region every command uses), with the SDK's adaptive retry
 * mode, which adds client-side rate limiting when AWS answers with throttling errors
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). The attempt count is left to the
 * SDK's standard sources (AWS_MAX_ATTEMPTS, the profile's `max_attempts`, default 3); endpoints likewise
 * (AWS_ENDPOINT_URL, used by the tests to reach moto).
 */
export function awsClientConfig(region: string, endpoint?: string): { readonly region: string; readonly retryMode: "adaptive"; readonly endpoint?: string } {
    // The `local` stack's `rotation:aws.endpoint` (moto): given to the client, it wins over AWS_ENDPOINT_URL* and the
    // shared config (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
    return endpoint === undefined ? { region, retryMode: "adaptive" } : { region, retryMode: "adaptive", endpoint };
}
