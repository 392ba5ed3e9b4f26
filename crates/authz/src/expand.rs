//! Expand: the tree of how a permission on a resource is computed, down to the direct subjects of
//! relations.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use crate::engine::{CheckError, Engine, RelationshipReader};
use crate::relationship::{ObjectRef, SubjectRef};
use crate::schema::{ArrowKind, Expr};

/// A node of an expand tree: how `relation` of `object` is computed. Nodes for sub-expressions of one
/// permission carry an empty `relation`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExpandNode {
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub relation: String,
    #[serde(flatten)]
    pub kind: ExpandKind,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpandKind {
    /// The direct subjects of a relation (subject sets are not expanded further).
    Leaf(Vec<SubjectRef>),
    Union(Vec<ExpandNode>),
    Intersection(Vec<ExpandNode>),
    Exclusion(Box<ExpandNode>, Box<ExpandNode>),
    Nil,
    /// This node is already being expanded higher up the tree.
    Cycle,
}

impl<R: RelationshipReader> Engine<'_, R> {
    /// The tree of how `permission` on `resource` is computed, down to the direct subjects of relations.
    ///
    /// # Errors
    /// Unknown type or permission, a tree deeper than the limit, or a store failure.
    pub async fn expand(
        &self,
        resource: &ObjectRef,
        permission: &str,
    ) -> Result<ExpandNode, CheckError> {
        self.validate_names(&resource.object_type, permission, None)?;
        let in_progress = RefCell::new(HashSet::new());
        self.expand_name(&in_progress, resource.clone(), permission.to_owned(), 0)
            .await
    }

    fn expand_name<'r>(
        &'r self,
        in_progress: &'r RefCell<HashSet<(ObjectRef, String)>>,
        object: ObjectRef,
        relation: String,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<ExpandNode, CheckError>> + 'r>> {
        Box::pin(async move {
            if depth > self.max_depth {
                return Err(CheckError::DepthExceeded(self.max_depth));
            }
            let key = (object.clone(), relation.clone());
            if !in_progress.borrow_mut().insert(key.clone()) {
                return Ok(ExpandNode {
                    object,
                    relation,
                    kind: ExpandKind::Cycle,
                });
            }
            let def = self.schema.definition(&object.object_type);
            let rel = def.and_then(|d| d.relations.get(&relation));
            let kind = if let Some(expr) = rel.and_then(|r| r.rewrite.as_ref()) {
                self.expand_expr(in_progress, &object, expr, depth).await
            } else if rel.is_some() {
                let subjects = self.stored(&object, &relation).await;
                subjects.map(ExpandKind::Leaf)
            } else if let Some(expr) = def.and_then(|d| d.permissions.get(&relation)) {
                self.expand_expr(in_progress, &object, expr, depth).await
            } else {
                Ok(ExpandKind::Nil)
            };
            in_progress.borrow_mut().remove(&key);
            Ok(ExpandNode {
                object,
                relation,
                kind: kind?,
            })
        })
    }

    fn expand_expr<'r>(
        &'r self,
        in_progress: &'r RefCell<HashSet<(ObjectRef, String)>>,
        object: &'r ObjectRef,
        expr: &'r Expr,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<ExpandKind, CheckError>> + 'r>> {
        Box::pin(async move {
            let both = |a: ExpandKind, b: ExpandKind| {
                [a, b].map(|k| ExpandNode {
                    object: object.clone(),
                    relation: String::new(),
                    kind: k,
                })
            };
            Ok(match expr {
                Expr::Nil => ExpandKind::Nil,
                Expr::Direct(r) => ExpandKind::Leaf(self.stored(object, r).await?),
                Expr::Ref(n) => {
                    let node = self
                        .expand_name(in_progress, object.clone(), n.clone(), depth + 1)
                        .await?;
                    ExpandKind::Union(vec![node])
                }
                Expr::Union(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    ExpandKind::Union(both(a, b).into())
                }
                Expr::Intersection(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    ExpandKind::Intersection(both(a, b).into())
                }
                Expr::Exclusion(a, b) => {
                    let (a, b) = (
                        self.expand_expr(in_progress, object, a, depth).await?,
                        self.expand_expr(in_progress, object, b, depth).await?,
                    );
                    let [a, b] = both(a, b);
                    ExpandKind::Exclusion(Box::new(a), Box::new(b))
                }
                Expr::Arrow {
                    tupleset,
                    kind,
                    target,
                } => {
                    let subjects = self.stored(object, tupleset).await?;
                    let mut children = Vec::new();
                    for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                        if self
                            .schema
                            .definition(&s.object.object_type)
                            .is_some_and(|d| d.has(target))
                        {
                            children.push(
                                self.expand_name(
                                    in_progress,
                                    s.object.clone(),
                                    target.clone(),
                                    depth + 1,
                                )
                                .await?,
                            );
                        }
                    }
                    match kind {
                        ArrowKind::Any => ExpandKind::Union(children),
                        // `.all()` over no objects grants nothing (as check decides), but an empty
                        // intersection reads as "everyone" (the identity of `&`). SpiceDB writes "no
                        // subject" as a leaf without subjects (its expansion of `nil` and of a missing
                        // relation), and so does this.
                        ArrowKind::All if children.is_empty() => ExpandKind::Leaf(Vec::new()),
                        ArrowKind::All => ExpandKind::Intersection(children),
                    }
                }
            })
        })
    }
}
