//! `tessera-origin authz ...`: the relationship store from the command line, like `zed`.

use std::path::PathBuf;

use clap::Subcommand;
use tessera_origin::store::Store;

#[derive(Subcommand)]
pub(crate) enum AuthzCommand {
    /// `schema write FILE` or `schema read`.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// `relationship create|touch|delete REL...` or `relationship read TYPE[:ID] [RELATION]`.
    Relationship {
        #[command(subcommand)]
        command: RelationshipCommand,
    },
    /// Which RESOURCE_TYPE objects may SUBJECT access with PERMISSION? One id a line, all of them.
    LookupResources {
        resource_type: String,
        permission: String,
        subject: String,
    },
    /// Which subjects of SUBJECT_TYPE (or `type#relation` sets) have PERMISSION on RESOURCE? `type:*` =
    /// everyone, `type:* - {type:a, type:b}` = everyone but those.
    LookupSubjects {
        resource: String,
        permission: String,
        subject_type: String,
    },
    /// How PERMISSION on RESOURCE is computed, as a JSON tree.
    Expand {
        resource: String,
        permission: String,
    },
    /// Does SUBJECT have PERMISSION on RESOURCE? Prints `true` or `false`.
    Check {
        resource: String,
        permission: String,
        subject: String,
        /// Check at this revision instead of the newest.
        #[arg(long)]
        revision: Option<u64>,
        /// Also print why: the relationships that granted it, or what denied it.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum SchemaCommand {
    Write {
        file: PathBuf,
    },
    Read,
    /// Import an OpenFGA model (JSON, schema 1.1; `fga model transform` turns the DSL into it).
    ImportOpenfga {
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum RelationshipCommand {
    Create {
        relationships: Vec<String>,
    },
    Touch {
        relationships: Vec<String>,
    },
    Delete {
        relationships: Vec<String>,
    },
    /// Relationships of `TYPE` or `TYPE:ID`, optionally only `RELATION`.
    Read {
        resource: String,
        relation: Option<String>,
    },
}

/// The schema and a reader of `tenant` at `revision` (the newest when `None`), for an engine.
pub(crate) async fn engine_parts(
    authz: &tessera_origin::authz::store::AuthzStore,
    tenant: &str,
    revision: Option<u64>,
) -> Result<
    (
        std::sync::Arc<tessera_authz::Schema>,
        tessera_origin::authz::store::SnapshotReader,
    ),
    String,
> {
    let at = authz
        .snapshot(tenant, revision)
        .await
        .map_err(|e| e.to_string())?;
    let (_, _, schema) = authz
        .schema(tenant, Some(at))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no schema yet")?;
    Ok((std::sync::Arc::new(schema), authz.reader(tenant, at)))
}

pub(crate) async fn authz_cmd(
    store: &Store,
    tenant: &str,
    max_depth: u32,
    command: AuthzCommand,
) -> Result<(), String> {
    use tessera_authz::relationship::{ObjectRef, SubjectRef};
    use tessera_origin::authz::engine_thread::with_engine;
    use tessera_origin::authz::store::{AuthzStore, Filter, Operation};
    let authz = AuthzStore::new(store.db().clone());
    match command {
        AuthzCommand::Schema {
            command: SchemaCommand::Write { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
            let revision = authz
                .write_schema(tenant, &text)
                .await
                .map_err(|e| e.to_string())?;
            println!("schema written at revision {revision}");
        }
        AuthzCommand::Schema {
            command: SchemaCommand::ImportOpenfga { file },
        } => {
            let model = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
            let text = tessera_authz::openfga_to_schema(&model).map_err(|e| e.to_string())?;
            let revision = authz
                .write_schema(tenant, &text)
                .await
                .map_err(|e| e.to_string())?;
            println!("OpenFGA model imported at revision {revision} as:\n\n{text}");
        }
        AuthzCommand::Schema {
            command: SchemaCommand::Read,
        } => {
            let (revision, text, _) = authz
                .schema(tenant, None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no schema yet")?;
            println!("// revision {revision}\n{}", text.trim_end());
        }
        AuthzCommand::Relationship {
            command: RelationshipCommand::Read { resource, relation },
        } => {
            let (ty, id) = match resource.split_once(':') {
                Some((t, i)) => (t.to_owned(), Some(i.to_owned())),
                None => (resource, None),
            };
            let filter = Filter {
                resource_type: ty,
                resource_id: id,
                relation,
                ..Filter::default()
            };
            let at = authz.head(tenant).await.map_err(|e| e.to_string())?;
            for r in authz
                .read(tenant, &filter, at)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{r}");
            }
        }
        AuthzCommand::Relationship { command } => {
            let (op, texts) = match command {
                RelationshipCommand::Create { relationships } => (Operation::Create, relationships),
                RelationshipCommand::Touch { relationships } => (Operation::Touch, relationships),
                RelationshipCommand::Delete { relationships } => (Operation::Delete, relationships),
                RelationshipCommand::Read { .. } => return Ok(()),
            };
            if texts.is_empty() {
                return Err(
                    "give at least one relationship, e.g. `doc:1#viewer@user:ann`".to_owned(),
                );
            }
            let updates = texts
                .iter()
                .map(|t| {
                    t.parse::<tessera_authz::Tuple>()
                        .map(|r| (op, r))
                        .map_err(|e| format!("`{t}`: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let revision = authz
                .write(tenant, &updates, &[])
                .await
                .map_err(|e| e.to_string())?;
            println!("written at revision {revision}");
        }
        AuthzCommand::LookupResources {
            resource_type,
            permission,
            subject,
        } => {
            let subject: SubjectRef = subject.parse().map_err(|e| format!("subject: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            let rt = resource_type.clone();
            let found = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    engine
                        .lookup_resources_with_context(
                            &rt,
                            &permission,
                            &subject,
                            None,
                            usize::MAX,
                            None,
                        )
                        .await
                })
            })
            .await?
            .map_err(|e| e.to_string())?;
            for id in found.ids {
                println!("{resource_type}:{id}");
            }
            for (id, missing) in found.conditional {
                let missing: Vec<String> = missing.into_iter().collect();
                println!(
                    "{resource_type}:{id} (conditional: needs caveat context {})",
                    missing.join(", ")
                );
            }
        }
        AuthzCommand::LookupSubjects {
            resource,
            permission,
            subject_type,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let (st, sr) = match subject_type.split_once('#') {
                Some((t, r)) => (t.to_owned(), Some(r.to_owned())),
                None => (subject_type, None),
            };
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            let (t, r) = (st.clone(), sr.clone());
            let found = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    engine
                        .lookup_subjects(&resource, &permission, &t, r.as_deref())
                        .await
                })
            })
            .await?
            .map_err(|e| e.to_string())?;
            for id in found.ids {
                match &sr {
                    Some(r) => println!("{st}:{id}#{r}"),
                    // The wildcard with the subjects it does not reach: `user:* - {user:bob, user:cy}`.
                    None if id == "*" && !found.excluded.is_empty() => {
                        let excluded: Vec<String> =
                            found.excluded.iter().map(|x| format!("{st}:{x}")).collect();
                        println!("{st}:* - {{{}}}", excluded.join(", "));
                    }
                    None => println!("{st}:{id}"),
                }
            }
        }
        AuthzCommand::Expand {
            resource,
            permission,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, None).await?;
            // Printed on the engine's thread: the tree is as deep as the walk (see `engine_thread`).
            let text = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    let tree = engine.expand(&resource, &permission).await?;
                    Ok::<_, tessera_authz::CheckError>(serde_json::to_string_pretty(&tree))
                })
            })
            .await?
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            println!("{text}");
        }
        AuthzCommand::Check {
            resource,
            permission,
            subject,
            revision,
            explain,
        } => {
            let resource: ObjectRef = resource.parse().map_err(|e| format!("resource: {e}"))?;
            let subject: SubjectRef = subject.parse().map_err(|e| format!("subject: {e}"))?;
            let (schema, reader) = engine_parts(&authz, tenant, revision).await?;
            if explain {
                let why = with_engine(schema, reader, max_depth, move |engine| {
                    Box::pin(async move { engine.explain(&resource, &permission, &subject).await })
                })
                .await?
                .map_err(|e| e.to_string())?;
                println!("{}\n{}", why.allowed, why.reason);
                for r in &why.relationships {
                    println!("  {r}");
                }
                return Ok(());
            }
            let answer = with_engine(schema, reader, max_depth, move |engine| {
                Box::pin(async move {
                    engine
                        .check_with_context(
                            &resource,
                            &permission,
                            &subject,
                            &tessera_authz::Context::new(),
                        )
                        .await
                })
            })
            .await?
            .map_err(|e| e.to_string())?;
            match answer {
                tessera_authz::Permissionship::Has => println!("true"),
                tessera_authz::Permissionship::No => println!("false"),
                tessera_authz::Permissionship::Conditional(missing) => {
                    let missing: Vec<String> = missing.into_iter().collect();
                    println!("conditional: needs caveat context {}", missing.join(", "));
                }
            }
        }
    }
    Ok(())
}
