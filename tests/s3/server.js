#!/usr/bin/env node
// tests/s3/server.js: the tests' S3-compatible object store.  s3rver (the
// @20minutes fork: the last s3rver release, 3.7.1, accepts any SigV4
// signature of a known key, this fork computes and compares it) on a
// loopback address, with one bucket and one key pair, answering
// path-style requests.  Two checks of real S3 that s3rver leaves out are
// added in front of it, so the bucket behaves as a public-read bucket
// whose writes need the key:
//   - a write (PUT, POST, DELETE) without an Authorization header is
//     refused 403 AccessDenied (s3rver applies no ACLs);
//   - a PUT whose x-amz-content-sha256 is a hash must carry a body of
//     that hash, else 400 XAmzContentSHA256Mismatch (s3rver uses the
//     header's value for the signature without hashing the body).
// Anonymous GETs are allowed: S3_PUBLIC_BASE_URL can point at the bucket.
//
//   node server.js --dir DIR --bucket NAME --key ID --secret SECRET
//                  [--address 127.0.0.1] [--port 0] [--log 1]
// prints "listening http://ADDRESS:PORT" once it answers; SIGTERM stops it.
// With --log 1, one line per request after it: "METHOD PATH from ADDRESS
// STATUS" (tests/multihost tells the hosts apart by it).
'use strict';

const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { Readable } = require('node:stream');
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

const MAX_BODY = 64 * 1024 * 1024;

function args(argv) {
  const o = { address: '127.0.0.1', port: '0', log: '0' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!['dir', 'bucket', 'key', 'secret', 'address', 'port', 'log'].includes(k) ||
        argv[i + 1] === undefined) {
      throw new Error(`usage: server.js --dir D --bucket B --key K --secret S (bad: ${argv[i]})`);
    }
    o[k] = argv[i + 1];
  }
  for (const k of ['dir', 'bucket', 'key', 'secret']) {
    if (!o[k]) throw new Error(`--${k} is required`);
  }
  return o;
}

function s3error(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

// Reads the whole request body (capped) into a Buffer.
async function readBody(req) {
  const parts = [];
  let n = 0;
  for await (const chunk of req) {
    n += chunk.length;
    if (n > MAX_BODY) throw new Error('body too large');
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

async function strictS3(ctx, next) {
  const write = ['PUT', 'POST', 'DELETE'].includes(ctx.method);
  if (write && !ctx.get('Authorization')) {
    return s3error(ctx, 403, 'AccessDenied', 'Anonymous writes are refused');
  }
  const declared = ctx.get('x-amz-content-sha256');
  if (ctx.method === 'PUT' && /^[0-9a-f]{64}$/i.test(declared)) {
    const body = await readBody(ctx.req);
    const got = createHash('sha256').update(body).digest('hex');
    if (got !== declared.toLowerCase()) {
      return s3error(ctx, 400, 'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    // s3rver reads the body from ctx.req: hand it the bytes read here
    const replay = Readable.from([body]);
    replay.headers = ctx.req.headers;
    ctx.req = replay;
  }
  return next();
}

async function main() {
  const o = args(process.argv);
  fs.mkdirSync(o.dir, { recursive: true });
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(o.key, o.secret);
  const server = new S3rver({
    address: o.address,
    port: Number(o.port),
    directory: o.dir,
    silent: true,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    configureBuckets: [{ name: o.bucket }],
  });
  server.middleware.unshift(strictS3);
  if (o.log === '1') {
    server.middleware.unshift(async (ctx, next) => {
      try {
        await next();
      } finally {
        process.stdout.write(`${ctx.method} ${ctx.path} from ${ctx.ip} ${ctx.status}\n`);
      }
    });
  }
  const { address, port } = await server.run();
  process.stdout.write(`listening http://${address}:${port}\n`);
  const stop = () => server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`s3 fake: ${err.message}\n`);
  process.exit(1);
});
