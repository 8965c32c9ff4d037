import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { withOrg } from '../../db/tenant.ts'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { actorOf } from '../../context.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, OrgParams, Strict, Timestamp, Uuid } from '../../http/schemas.ts'
import { AppError } from '../../errors.ts'
import { AuditEventFilters, AuditReceiptSchema, NamedAuditEventViewSchema } from './audit.schemas.ts'
import type { AuditService } from './audit.service.ts'
import { checkpointOrigin, noteVerifierKey } from './audit.note.ts'

const tags = ['audit']
const EventQuery = Type.Object(
  {
    ...AuditEventFilters,
    cursor: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  },
  Strict,
)
const VerifyView = Type.Object({
  ok: Type.Boolean(),
  org: Uuid,
  events: Type.Integer(),
  lastSeq: Type.Integer(),
  lastHash: Type.Union([Type.String(), Type.Null()]),
  checkpoints: Type.Integer(),
  lastCheckpointSeq: Type.Union([Type.Integer(), Type.Null()]),
  unchained: Type.Optional(Type.Integer()),
  problems: Type.Array(
    Type.Object({ kind: Type.String(), seq: Type.Union([Type.Integer(), Type.Null()]), message: Type.String() }),
  ),
})

export function auditRoutes(deps: {
  audit: AuditService
  db: Kysely<DB>
  /** Host part of each org's checkpoint origin (`<host>/audit/<org id>`). */
  originHost: string
}): FastifyPluginAsyncTypebox {
  const { audit, db } = deps
  return async (app) => {
    app.get('/v1/audit/keys', {
      config: { access: { public: true } },
      schema: {
        tags,
        summary: 'Public keys that sign audit checkpoints (verify exports with these)',
        description:
          'Each key also signs every org’s checkpoint notes under the key name `<host>/audit/<org id>` (`origin`, with `{orgId}` to fill in). With `?org=<id>`, each key’s C2SP verifier key for that org’s log (`verifierKey`, `<name>+<hex key ID>+<base64(0x01 || public key)>`), as `custodian audit verify-receipt --key` and witnesses take it. Public: the org id is not checked.',
        querystring: Type.Object({ org: Type.Optional(Uuid) }, Strict),
        response: {
          200: Type.Object({
            keys: Type.Array(
              Type.Object({
                keyId: Type.String(),
                algorithm: Type.String(),
                publicKey: Type.String({ description: 'raw Ed25519 public key, base64url' }),
                origin: Type.String({ description: 'key name of the notes it signs: <host>/audit/{orgId}' }),
                verifierKey: Type.Optional(
                  Type.String({ description: 'with ?org: the C2SP verifier key of that org’s checkpoints' }),
                ),
              }),
            ),
          }),
        },
      },
      handler: async (request, reply) => {
        // Public keys, no credentials: any page may read them (the embedded viewer verifies receipts with them).
        reply.header('access-control-allow-origin', '*')
        return {
          // The current key only: a key retired after a loss verifies old checkpoints in
          // `custodian audit verify` and in exports (their header names it with its retirement),
          // but is not published for verifiers that would not bound it by that time.
          keys: audit
            .publicKeys()
            .filter((key) => key.retiredAt === undefined)
            .map(({ retiredAt: _retired, ...key }) => ({
              ...key,
              origin: checkpointOrigin(deps.originHost, '{orgId}'),
              ...(request.query.org === undefined
                ? {}
                : {
                    verifierKey: noteVerifierKey(
                      checkpointOrigin(deps.originHost, request.query.org),
                      Buffer.from(key.publicKey, 'base64url'),
                    ),
                  }),
            })),
        }
      },
    })

    app.get('/v1/orgs/:orgId/audit/events', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'Query the audit log, newest first (P5.1)',
        params: OrgParams,
        querystring: EventQuery,
        response: {
          200: Type.Object({
            events: Type.Array(NamedAuditEventViewSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const q = request.query
        return audit.namedQuery(ctxOf(request).orgId, {
          origin: q.origin,
          actorId: q.actor,
          action: q.action,
          targetId: q.target,
          outcome: q.outcome,
          from: q.from === undefined ? undefined : new Date(q.from),
          to: q.to === undefined ? undefined : new Date(q.to),
          cursor: q.cursor,
          limit: q.limit,
        })
      },
    })

    app.get('/v1/orgs/:orgId/audit/export', {
      config: { access: { permission: 'audit:export' } },
      schema: {
        tags,
        summary: 'Export the whole chain as JSON Lines (docs/audit-format.md)',
        params: OrgParams,
        produces: ['application/x-ndjson'],
        response: {
          200: { type: 'string', description: 'JSON Lines: header, events in seq order, signed checkpoints' },
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) => {
        const ctx = ctxOf(request)
        // The export itself is an egress of the log: recorded before the first byte leaves.
        await withOrg(db, ctx.orgId, (trx) =>
          audit.append(trx, {
            orgId: ctx.orgId,
            actor: actorOf(ctx.principal),
            action: 'audit.export',
            target: { type: 'org', id: ctx.orgId },
            outcome: 'success',
            meta: ctx.meta,
          }),
        )
        reply
          .type('application/x-ndjson')
          .header('content-disposition', `attachment; filename="audit-${ctx.orgId}.jsonl"`)
        // The schema documents the body as text; Fastify streams the Readable as it is.
        return reply.send(Readable.from(audit.exportLines(ctx.orgId)) as unknown as string)
      },
    })

    app.get('/v1/orgs/:orgId/audit/verify', {
      config: { access: { permission: 'audit:verify' } },
      schema: {
        tags,
        summary: 'Verify the org’s chain and signed checkpoints (P5.2)',
        params: OrgParams,
        response: { 200: VerifyView, ...errorResponses('org') },
      },
      handler: async (request) => audit.verify(ctxOf(request).orgId),
    })

    app.get('/v1/orgs/:orgId/audit/checkpoints/latest', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'The newest signed checkpoint as a C2SP signed note, to keep outside Custodian (docs/audit-format.md)',
        description:
          'JSON by default; the note alone as text/plain with `?format=note` or `Accept: text/plain`. 404 before the first checkpoint.',
        params: OrgParams,
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('note')])) },
          Strict,
        ),
        produces: ['application/json', 'text/plain'],
        response: {
          200: Type.Object({
            origin: Type.String({
              description: '<host>/audit/<org id>: the note’s first line and its signature’s key name',
            }),
            size: Type.Integer({ description: 'the chain and the tree reach seq = size' }),
            hash: Type.String({ description: 'hex hash_size of the chain (the last event’s chain hash)' }),
            rootHash: Type.Union([Type.String(), Type.Null()], {
              description:
                'hex RFC 9162 Merkle tree root over events 1..size: the note’s hash line (base64 there); null on a checkpoint signed before the tree, whose hash line is `hash`',
            }),
            signedAt: Timestamp,
            keyId: Type.String(),
            verifierKey: Type.String({
              description: 'signed-note verifier key: <name>+<hex key hash>+<base64(0x01 || public key)>',
            }),
            note: Type.String({
              description:
                'the C2SP signed note (tlog-checkpoint text, blank line, the log’s signature line, then the witnesses’ cosignature lines collected so far)',
            }),
            cosignatures: Type.Array(
              Type.Object({
                witness: Type.String({ description: 'the witness’s key name' }),
                timestamp: Type.Integer({ description: 'the cosignature’s timestamp, POSIX seconds' }),
              }),
              { description: 'the C2SP tlog-witness witnesses whose cosignature lines the note carries' },
            ),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) => {
        const latest = await audit.latestCheckpoint(ctxOf(request).orgId)
        if (latest === undefined) throw new AppError('NOT_FOUND', 'no signed checkpoint yet')
        const accept = request.headers.accept ?? ''
        if (
          request.query.format === 'note' ||
          (request.query.format === undefined && accept.includes('text/plain') && !accept.includes('application/json'))
        ) {
          // A string with its own content type is sent as it is, not serialized by the schema.
          return reply.type('text/plain; charset=utf-8').send(latest.note as unknown as typeof latest)
        }
        return latest
      },
    })

    const Base64Hashes = Type.Object({
      hashes: Type.Array(Type.String({ description: 'standard base64 of a 32-byte hash' })),
    })
    const sendHashes = (proof: { hashes: Buffer[] }) => ({ hashes: proof.hashes.map((h) => h.toString('base64')) })

    app.get('/v1/orgs/:orgId/audit/proofs/inclusion', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'Inclusion proof of one event in the org’s Merkle tree (RFC 9162 §2.1.3)',
        description:
          'The audit path of the event at `seq` (leaf index seq − 1) in the tree of the first `size` events, in the order RFC 9162 §2.1.3.1 defines; check it against the root of a signed checkpoint of that size (docs/transparency.md). `size` may be at most the newest signed checkpoint’s.',
        params: OrgParams,
        querystring: Type.Object(
          {
            seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
            size: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
          },
          Strict,
        ),
        response: { 200: Base64Hashes, ...errorResponses('org') },
      },
      handler: async (request) =>
        sendHashes(await audit.inclusionProof(ctxOf(request).orgId, request.query.seq, request.query.size)),
    })

    app.get('/v1/orgs/:orgId/audit/proofs/consistency', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'Consistency proof between two sizes of the org’s Merkle tree (RFC 9162 §2.1.4)',
        description:
          'Proves that the tree of the first `to` events extends the tree of the first `from`, in the order RFC 9162 §2.1.4.1 defines; empty when `from` is 0 or equals `to`. `to` may be at most the newest signed checkpoint’s size.',
        params: OrgParams,
        querystring: Type.Object(
          {
            from: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
            to: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
          },
          Strict,
        ),
        response: { 200: Base64Hashes, ...errorResponses('org') },
      },
      handler: async (request) =>
        sendHashes(await audit.consistencyProof(ctxOf(request).orgId, request.query.from, request.query.to)),
    })

    app.get('/v1/orgs/:orgId/audit/events/:eventId/receipt', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary:
          'A receipt of one event: the event, its inclusion proof and the signed checkpoint (docs/transparency.md)',
        description:
          'Verifiable offline with the log’s verifier key (`custodian audit verify-receipt`). 404 until a signed checkpoint covers the event (within a checkpoint interval of its chaining).',
        params: Type.Object({ orgId: Uuid, eventId: Uuid }, Strict),
        response: {
          200: AuditReceiptSchema,
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const receipt = await audit.receipt(ctxOf(request).orgId, request.params.eventId)
        return { ...receipt, event: { ...receipt.event } }
      },
    })

    app.get('/v1/orgs/:orgId/audit/tile/*', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'C2SP tlog-tiles of the org’s Merkle tree: hash tiles and entry bundles',
        description:
          'Paths as C2SP tlog-tiles defines them under this prefix: `tile/<L>/<N>[.p/<W>]` (W hashes of 32 bytes) and `tile/entries/<N>[.p/<W>]` (the JCS bytes of events 256·N+1 … 256·N+W, each with a 2-byte big-endian length). Full tiles never change. 404 when the tree does not reach the tile.',
        params: Type.Object({ orgId: Uuid, '*': Type.String({ maxLength: 200 }) }, Strict),
        produces: ['application/octet-stream'],
        response: { 200: Type.Unknown({ description: 'the tile’s bytes' }), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const tile = await audit.tile(ctxOf(request).orgId, `tile/${request.params['*']}`)
        if (tile === undefined) throw new AppError('NOT_FOUND', 'no such tile in this org’s tree')
        return (
          reply
            .type('application/octet-stream')
            // A full hash tile never changes and holds only hashes; entry bundles hold events: never cached.
            .header('cache-control', tile.full && tile.hashesOnly ? 'private, max-age=31536000, immutable' : 'no-store')
            .send(tile.body)
        )
      },
    })

    app.get('/v1/orgs/:orgId/audit/status', {
      config: { access: { permission: 'audit:read' } },
      schema: {
        tags,
        summary: 'Chain head, events waiting to be chained, last checkpoint, and witness cosigning',
        params: OrgParams,
        response: {
          200: Type.Object({
            headSeq: Type.Integer({
              description: 'seq of the last chained event (0 before any); events waiting to be chained never move it',
            }),
            headHash: Type.Union([Type.String(), Type.Null()], { description: 'hex hash_seq of that event' }),
            unchained: Type.Integer({ description: 'events committed but not chained yet' }),
            oldestUnchainedAt: Type.Union([Timestamp, Type.Null()], {
              description: 'when the oldest of them happened',
            }),
            lastCheckpointSeq: Type.Integer(),
            lastCheckpointAt: Type.Union([Timestamp, Type.Null()]),
            witnesses: Type.Object({
              pending: Type.Integer({ description: 'checkpoint deliveries to witnesses not done yet' }),
              failed: Type.Integer({ description: 'deliveries given up after the last attempt' }),
              lastDeliveredSeq: Type.Union([Type.Integer(), Type.Null()], {
                description:
                  'the newest checkpoint that left: accepted by the operator’s endpoint, written to the witness file, cosigned by a tlog witness, or queued for at least one subscribed webhook (GET …/webhook-deliveries has their own state)',
              }),
            }),
            witnessing: Type.Object(
              {
                quorum: Type.Integer({
                  description: 'cosignatures a checkpoint needs to count as witnessed (0: no witness configured)',
                }),
                witnessedSize: Type.Union([Type.Integer(), Type.Null()], {
                  description: 'the newest checkpoint size that reached the quorum',
                }),
                witnessedAt: Type.Union([Timestamp, Type.Null()], { description: 'when it reached the quorum' }),
                unwitnessedSince: Type.Union([Timestamp, Type.Null()], {
                  description:
                    'when the oldest checkpoint above witnessedSize was signed (null: none is); older than CUSTODIAN_AUDIT_UNWITNESSED_ALERT_SECONDS raises audit_unwitnessed',
                }),
                witnesses: Type.Array(
                  Type.Object({
                    name: Type.String({ description: 'the witness’s key name' }),
                    cosignedSize: Type.Union([Type.Integer(), Type.Null()], {
                      description: 'the size of the last checkpoint it cosigned',
                    }),
                    cosignedAt: Type.Union([Timestamp, Type.Null()]),
                    lastError: Type.Union([Type.String(), Type.Null()], {
                      description: 'its last failure (cleared by its next cosignature)',
                    }),
                  }),
                ),
              },
              { description: 'cosigning by the C2SP tlog-witness witnesses (CUSTODIAN_AUDIT_TLOG_WITNESSES)' },
            ),
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => audit.status(ctxOf(request).orgId),
    })
  }
}
