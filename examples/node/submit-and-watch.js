#!/usr/bin/env node
// Submit a reelmill job from Node.js and follow it to the end.
//
//   npm ci
//   node submit-and-watch.js JOB.json [--gateway 127.0.0.1:50051]
//
// JOB.json has the shape of ICE's SubmitBatchMediaProducingJob request (InputConfig, EditingConfig,
// OutputConfig, UserData, ClientToken); each config may be a JSON object or, as ICE clients send it,
// a JSON string. `file:` URLs without `//` are resolved against the job file's folder, as the
// `reelmill` command does. Exit status: 0 when the job Finished, 3 when it ended otherwise, 1 on an
// error from the gateway, 2 on a bad job file.
//
// The protos are loaded at run time from the repository's protos/ folder (REELMILL_PROTOS to point
// elsewhere), with keepCase false: fields are camelCase in JavaScript (jobId, editingBatchJob,
// subJobList), the usual Node.js convention.

"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTOS = process.env.REELMILL_PROTOS || path.resolve(__dirname, "../../protos");
const TERMINAL = new Set(["Finished", "Failed", "Cancelled"]);
const CONFIGS = { InputConfig: "inputConfigJson", EditingConfig: "editingConfigJson", OutputConfig: "outputConfigJson" };

function loadService() {
  const definition = protoLoader.loadSync(path.join(PROTOS, "reelmill/v1/batch_service.proto"), {
    includeDirs: [PROTOS],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).reelmill.v1.BatchMediaProducingService;
}

// google.rpc.Status and BadRequest, to print field violations from the error details.
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: { nested: { Any: { fields: { typeUrl: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } } } },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: "int32", id: 1 },
                message: { type: "string", id: 2 },
                details: { rule: "repeated", type: "google.protobuf.Any", id: 3 },
              },
            },
            BadRequest: {
              fields: { fieldViolations: { rule: "repeated", type: "FieldViolation", id: 1 } },
              nested: {
                FieldViolation: {
                  fields: { field: { type: "string", id: 1 }, description: { type: "string", id: 2 } },
                },
              },
            },
          },
        },
      },
    },
  },
});

function describeError(err) {
  const lines = [`error: ${grpc.status[err.code] || err.code}: ${err.details}`];
  const raw = err.metadata && err.metadata.get("grpc-status-details-bin")[0];
  if (raw) {
    const status = rpc.lookupType("google.rpc.Status").decode(raw);
    for (const detail of status.details) {
      if (detail.typeUrl.endsWith("/google.rpc.BadRequest")) {
        for (const v of rpc.lookupType("google.rpc.BadRequest").decode(detail.value).fieldViolations) {
          lines.push(`  ${v.field}: ${v.description}`);
        }
      }
    }
  }
  return lines.join("\n");
}

function resolveFiles(value, baseDir) {
  if (Array.isArray(value)) return value.map((v) => resolveFiles(v, baseDir));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveFiles(v, baseDir)]));
  }
  if (typeof value === "string" && value.startsWith("file:") && !value.startsWith("file://")) {
    return "file://" + encodeURI(path.resolve(baseDir, value.slice("file:".length)));
  }
  return value;
}

// The job file as a Submit request: each config as JSON text, so the server validates what was written.
function submitRequest(doc, baseDir) {
  const request = { clientToken: String(doc.ClientToken || "") };
  for (const [key, field] of Object.entries(CONFIGS)) {
    let value = doc[key];
    if (value === undefined || value === null) continue;
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch {
        request[field] = value; // malformed: the gateway names what is wrong with it
        continue;
      }
    }
    request[field] = JSON.stringify(resolveFiles(value, baseDir));
  }
  if (doc.UserData !== undefined) {
    request.userData = typeof doc.UserData === "string" ? doc.UserData : JSON.stringify(doc.UserData);
  }
  if (doc.Seed !== undefined) request.seed = String(doc.Seed);
  return request;
}

// TLS when told: REELMILL_CA_CERT (a PEM bundle to trust) or REELMILL_TLS=true (the system's CAs);
// REELMILL_CLIENT_CERT and REELMILL_CLIENT_KEY for a gateway that asks for client certificates (mTLS).
function credentials() {
  const env = process.env;
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const tls = ["1", "true", "yes"].includes((env.REELMILL_TLS || "").toLowerCase());
  if (!tls && !env.REELMILL_CA_CERT && !env.REELMILL_CLIENT_CERT) {
    return grpc.credentials.createInsecure();
  }
  return grpc.credentials.createSsl(
    read(env.REELMILL_CA_CERT), read(env.REELMILL_CLIENT_KEY), read(env.REELMILL_CLIENT_CERT),
  );
}

// REELMILL_API_KEY: sent as x-api-key metadata on every call, as the gateway expects.
function apiKeyInterceptors() {
  const key = process.env.REELMILL_API_KEY;
  if (!key) return [];
  return [
    (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          metadata.set("x-api-key", key);
          next(metadata, listener);
        },
      }),
  ];
}

function call(client, method, request, timeoutS) {
  const deadline = new Date(Date.now() + timeoutS * 1000);
  return new Promise((resolve, reject) => {
    client[method](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// Follows the job, printing each change of the job's status and of a variant's status or progress
// (by a tenth); follows again when the gateway goes away. Resolves with the job in its final state.
function watch(client, jobId) {
  const seen = new Map();
  let status = "";
  let settled = false;
  return new Promise((resolve, reject) => {
    const open = () => {
      const stream = client.watchBatchMediaProducingJob({ jobId });
      stream.on("data", ({ editingBatchJob: job }) => {
        if (job.status !== status) {
          console.log(`job ${job.jobId} ${job.status}`);
          status = job.status;
        }
        for (const s of job.subJobList) {
          const now = `${s.status} ${Math.floor(s.progress * 10 + 1e-9)}`;
          if (seen.get(s.index) !== now) {
            console.log(`  variant ${s.index}: ${s.status} ${Math.round(s.progress * 100)}%`);
            seen.set(s.index, now);
          }
        }
        if (TERMINAL.has(job.status) && !settled) {
          settled = true;
          resolve(job);
        }
      });
      stream.on("error", () => {}); // every ending, good or bad, arrives as "status" too
      stream.on("status", (st) => {
        if (settled) return;
        if (st.code === grpc.status.OK || st.code === grpc.status.UNAVAILABLE) {
          setTimeout(open, 1000); // the gateway stopped (a restart, a rollout): watch again
        } else {
          settled = true;
          reject(st);
        }
      });
    };
    open();
  });
}

async function main(argv) {
  const args = argv.slice(2);
  let gateway = process.env.REELMILL_GATEWAY || "127.0.0.1:50051";
  const at = args.indexOf("--gateway");
  if (at >= 0) {
    gateway = args[at + 1];
    args.splice(at, 2);
  }
  if (args.length !== 1) {
    console.error("usage: node submit-and-watch.js JOB.json [--gateway HOST:PORT]");
    return 2;
  }
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(args[0], "utf8"));
  } catch (e) {
    console.error(`error: ${args[0]}: ${e.message}`);
    return 2;
  }

  const Service = loadService();
  const client = new Service(gateway, credentials(), { interceptors: apiKeyInterceptors() });
  try {
    const { jobId } = await call(
      client, "submitBatchMediaProducingJob", submitRequest(doc, path.dirname(path.resolve(args[0]))), 30,
    );
    console.log(`submitted job ${jobId}`);
    const job = await watch(client, jobId);
    for (const s of job.subJobList) {
      const where = s.status === "Success" ? s.mediaUrl : `${s.errorCode}: ${s.errorMessage}`;
      console.log(`variant ${s.index}: ${s.status} ${s.duration.toFixed(2)} s ${where}`);
    }
    const ok = job.subJobList.filter((s) => s.status === "Success").length;
    console.log(`job ${job.jobId} ${job.status}: ${ok} of ${job.subJobList.length} variants rendered`);
    return job.status === "Finished" ? 0 : 3;
  } catch (err) {
    if (err.code === undefined) throw err;
    console.error(describeError(err));
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv).then((code) => process.exit(code));
