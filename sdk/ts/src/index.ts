// @sandboxd/client: the TypeScript client of sandboxd.

export * from "./client.js";
export * from "./config.js";
export * from "./errors.js";
export { resumableWatch, type WatchEvent, type WatchOptions } from "./watch.js";
export * from "./gen/sandbox/v1/sandbox_pb.js";
export { ErrorReason } from "./gen/sandbox/v1/error_reason_pb.js";
