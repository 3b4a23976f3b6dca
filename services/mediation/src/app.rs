//! The mediation process, one operation per transaction: open a file (from a request or a
//! referral), schedule sessions, record the outcome, go through court confirmation, and credit
//! mediators. Each writes its state change and its event (through the outbox) together.

use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::{Error, Violations};
use yimen_platform::outbox;
use yimen_platform::seal::Keyring;
use yimen_proto::event_type::{MEDIATION_CONCLUDED, MEDIATION_COURT_CONFIRMED, MEDIATION_OPENED};
use yimen_proto::v1::{self as pb, event::Payload};

use crate::SERVICE;
use crate::domain::request::{mediation_id, mediators_filter};
use crate::domain::{
    Conclusion, Credit, MediationFilter, NewMediation, NewMediator, NewSession, Outcome, Standing,
    Transition, access,
};
use crate::store::{self, FileRecord};

async fn enqueue(
    tx: &mut Tx,
    event_type: &str,
    case_id: &str,
    payload: Payload,
) -> Result<(), Error> {
    outbox::publish(tx, event_type, case_id, SERVICE, payload).await?;
    Ok(())
}

/// What opening answered: the file, and whether it was opened now (false: the case already
/// had this OPEN file, and nothing was written).
#[derive(Debug, Clone)]
pub struct Opened {
    pub file: FileRecord,
    pub created: bool,
}

/// Opens a file for `new` in the caller's transaction and announces `mediation.opened`, or
/// answers the case's OPEN file when it has one. The one way a file opens: OpenMediation calls
/// it in its own transaction, the referral consumer in the consumer loop's.
pub async fn open(
    tx: &mut Tx,
    new: &NewMediation,
    now: i64,
    keyring: &Keyring,
) -> Result<Opened, Error> {
    let case_number = match new.case_number.as_str() {
        "" => store::case_number(tx, &new.case_id)
            .await?
            .unwrap_or_default(),
        known => known.to_string(),
    };
    let file = FileRecord {
        mediation_id: uuid::Uuid::now_v7().to_string(),
        case_id: new.case_id.clone(),
        case_number,
        committee: new.committee.code.to_string(),
        linkage: new.linkage,
        standing: Standing::OPENED,
        category: new.category,
        summary: new.summary.clone(),
        referred_by: new.referred_by.clone(),
        opened_at: now,
        concluded_at: None,
        agreement: None,
        sessions: Vec::new(),
    };
    if !store::insert_file(tx, &file).await? {
        // The unique index on OPEN files said the case has one: answer it, announce nothing.
        let existing = store::open_file_of_case(tx, &new.case_id, keyring)
            .await?
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "the mediation of case {} changed meanwhile; try again",
                    new.case_id
                ))
            })?;
        tracing::info!(case_id = %new.case_id, mediation_id = %existing.mediation_id, "case already in mediation; its open file answered");
        return Ok(Opened {
            file: existing,
            created: false,
        });
    }
    let payload = Payload::MediationOpened(pb::MediationOpened {
        mediation_id: file.mediation_id.clone(),
        committee: new.committee.code.to_string(),
        committee_name: new.committee.name.to_string(),
        linkage: new.linkage as i32,
        category: new.category as i32,
        referred_by: new.referred_by.clone(),
    });
    enqueue(tx, MEDIATION_OPENED, &file.case_id, payload).await?;
    tracing::info!(
        case_id = %file.case_id,
        mediation_id = %file.mediation_id,
        committee = %file.committee,
        linkage = new.linkage.as_str_name(),
        referred_by = %file.referred_by,
        "mediation opened"
    );
    Ok(Opened {
        file,
        created: true,
    })
}

/// `case.referred.<dept>`: opens the case's file in the consumer loop's transaction, or does
/// nothing when the case already has an OPEN file.
pub async fn referred(tx: &mut Tx, event: &pb::Event, keyring: &Keyring) -> anyhow::Result<()> {
    let referral = yimen_platform::payload!(event, CaseReferred)?;
    let new = NewMediation::from_referral(&event.case_id, referral)?;
    open(tx, &new, now_millis(), keyring).await?;
    Ok(())
}

/// `case.registered`: remembers the case's number, and gives it to a file opened before the
/// registration arrived.
pub async fn registered(tx: &mut Tx, event: &pb::Event) -> anyhow::Result<()> {
    let case = yimen_platform::payload!(event, CaseRegistered)?;
    anyhow::ensure!(
        !event.case_id.is_empty(),
        "case.registered {} names no case",
        event.id
    );
    store::remember_case_number(tx, &event.case_id, &case.case_number).await?;
    Ok(())
}

/// OpenMediation.
pub async fn open_mediation(
    db: &Db,
    keyring: &Keyring,
    request: &pb::OpenMediationRequest,
) -> Result<pb::MediationFile, Error> {
    let new = NewMediation::from_request(request)?;
    let mut tx = db.begin().await?;
    let opened = open(&mut tx, &new, now_millis(), keyring).await?;
    db.commit(tx).await?;
    Ok(opened.file.to_proto())
}

/// Locks the file for the rest of the transaction and reads it; NOT_FOUND when unknown.
async fn locked_file(
    tx: &mut Tx,
    mediation_id: &str,
    keyring: &Keyring,
) -> Result<FileRecord, Error> {
    if !store::lock_file(tx, mediation_id).await? {
        return Err(not_found(mediation_id));
    }
    reread(tx, mediation_id, keyring).await
}

/// [`locked_file`] for a caller about to act on it: refused before anything changes when the
/// file is not within the caller's scope.
async fn locked_file_for(
    tx: &mut Tx,
    scope: &Scope,
    mediation_id: &str,
    keyring: &Keyring,
) -> Result<FileRecord, Error> {
    let file = locked_file(tx, mediation_id, keyring).await?;
    // The audit trail names the file and its case even when the caller is refused.
    yimen_platform::audit::note_object("mediation", mediation_id);
    yimen_platform::audit::note_case(&file.case_id);
    access::may_act_on(scope, &file.committee)?;
    Ok(file)
}

/// The file as the transaction now sees it.
async fn reread(tx: &mut Tx, mediation_id: &str, keyring: &Keyring) -> Result<FileRecord, Error> {
    store::file(tx, mediation_id, keyring)
        .await?
        .ok_or_else(|| not_found(mediation_id))
}

fn not_found(mediation_id: &str) -> Error {
    Error::not_found(format!("mediation {mediation_id} not found"))
}

/// ScheduleSession: every mediator named must be registered (with any committee).
pub async fn schedule_session(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::ScheduleSessionRequest,
) -> Result<pb::MediationFile, Error> {
    let session = NewSession::parse(request)?;
    let mut tx = db.begin().await?;
    let mut unknown = Violations::new();
    for (i, mediator_id) in session.mediators.iter().enumerate() {
        if store::mediator(&mut tx, mediator_id).await?.is_none() {
            unknown.add(
                format!("mediators[{i}]"),
                "no mediator is registered with this id",
            );
        }
    }
    unknown.finish()?;
    let file = locked_file_for(&mut tx, scope, &session.mediation_id, keyring).await?;
    file.standing.apply(Transition::Schedule)?;
    store::insert_session(&mut tx, &session, now_millis()).await?;
    let updated = reread(&mut tx, &session.mediation_id, keyring).await?;
    db.commit(tx).await?;
    tracing::info!(mediation_id = %session.mediation_id, mediators = session.mediators.len(), "mediation session scheduled");
    Ok(updated.to_proto())
}

/// RecordOutcome: concludes an OPEN file and announces `mediation.concluded` with the
/// agreement and every mediator who sat.
pub async fn record_outcome(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::RecordOutcomeRequest,
) -> Result<pb::MediationFile, Error> {
    let conclusion = Conclusion::parse(request)?;
    let id = &conclusion.mediation_id;
    let mut tx = db.begin().await?;
    let file = locked_file_for(&mut tx, scope, id, keyring).await?;
    let standing = file
        .standing
        .apply(Transition::Conclude(conclusion.outcome))?;
    store::conclude(
        &mut tx,
        id,
        standing.state,
        conclusion.agreement.as_ref(),
        now_millis(),
        keyring,
    )
    .await?;
    let updated = reread(&mut tx, id, keyring).await?;
    let payload = concluded(&updated, standing, conclusion.difficulty);
    enqueue(&mut tx, MEDIATION_CONCLUDED, &updated.case_id, payload).await?;
    db.commit(tx).await?;
    tracing::info!(
        case_id = %updated.case_id,
        mediation_id = %id,
        outcome = standing.state.as_str(),
        amount_fen = updated.agreement.as_ref().map_or(0, |a| a.amount_fen),
        "mediation concluded"
    );
    Ok(updated.to_proto())
}

/// `mediation.concluded` for a file concluded as `standing` says, with the agreement and
/// every mediator who sat.
fn concluded(file: &FileRecord, standing: Standing, difficulty: u32) -> Payload {
    Payload::MediationConcluded(pb::MediationConcluded {
        mediation_id: file.mediation_id.clone(),
        committee: file.committee.clone(),
        linkage: file.linkage as i32,
        outcome: standing.state.to_proto() as i32,
        // The parties may be petitioners by name: they stay in mediation's store.
        agreement: file.agreement.as_ref().map(|a| pb::Agreement {
            payer: String::new(),
            payee: String::new(),
            ..a.to_proto()
        }),
        mediators: file.mediators(),
        difficulty,
    })
}

/// `case.withdrawn`: the petitioner withdrew the case (撤回), so its OPEN file concludes
/// WITHDRAWN (`mediation.concluded`); a case without one changes nothing here.
pub async fn case_withdrawn(
    tx: &mut Tx,
    event: &pb::Event,
    keyring: &Keyring,
) -> anyhow::Result<()> {
    let _ = yimen_platform::payload!(event, CaseWithdrawn)?;
    let Some(file) = store::open_file_of_case(tx, &event.case_id, keyring).await? else {
        tracing::debug!(case_id = %event.case_id, "withdrawn case has no open mediation");
        return Ok(());
    };
    let id = &file.mediation_id;
    anyhow::ensure!(store::lock_file(tx, id).await?, "mediation {id} vanished");
    let standing = file
        .standing
        .apply(Transition::Conclude(Outcome::Withdrawn))?;
    store::conclude(tx, id, standing.state, None, now_millis(), keyring).await?;
    let updated = reread(tx, id, keyring).await?;
    let payload = concluded(&updated, standing, 0);
    enqueue(tx, MEDIATION_CONCLUDED, &updated.case_id, payload).await?;
    tracing::info!(case_id = %updated.case_id, mediation_id = %id, "mediation withdrawn with its case");
    Ok(())
}

/// RequestCourtConfirmation (司法确认): an AGREED file goes to the court.
pub async fn request_court_confirmation(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::RequestCourtConfirmationRequest,
) -> Result<pb::MediationFile, Error> {
    let id = mediation_id(&request.mediation_id)?;
    let mut tx = db.begin().await?;
    let file = locked_file_for(&mut tx, scope, &id, keyring).await?;
    let standing = file.standing.apply(Transition::RequestCourtConfirmation)?;
    store::set_standing(&mut tx, &id, standing, now_millis()).await?;
    let updated = reread(&mut tx, &id, keyring).await?;
    db.commit(tx).await?;
    tracing::info!(mediation_id = %id, "court confirmation requested");
    Ok(updated.to_proto())
}

/// RecordCourtDecision: the court confirms the agreement (COURT_CONFIRMED) or not (the file
/// stays AGREED and may be sent again); `mediation.court_confirmed` says which.
pub async fn record_court_decision(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::RecordCourtDecisionRequest,
) -> Result<pb::MediationFile, Error> {
    let id = mediation_id(&request.mediation_id)?;
    let confirmed = request.confirmed;
    let mut tx = db.begin().await?;
    let file = locked_file_for(&mut tx, scope, &id, keyring).await?;
    let standing = file
        .standing
        .apply(Transition::CourtDecision { confirmed })?;
    store::set_standing(&mut tx, &id, standing, now_millis()).await?;
    let payload = Payload::MediationCourtConfirmed(pb::MediationCourtConfirmed {
        mediation_id: id.clone(),
        confirmed,
    });
    enqueue(&mut tx, MEDIATION_COURT_CONFIRMED, &file.case_id, payload).await?;
    let updated = reread(&mut tx, &id, keyring).await?;
    db.commit(tx).await?;
    tracing::info!(case_id = %file.case_id, mediation_id = %id, confirmed, "court decided");
    Ok(updated.to_proto())
}

/// RecordPerformance (以案定补): credits a mediator who sat in a successful file with its
/// difficulty points, once per mediator and file.
pub async fn record_performance(
    db: &Db,
    keyring: &Keyring,
    request: &pb::RecordPerformanceRequest,
) -> Result<pb::Mediator, Error> {
    let credit = Credit::parse(request)?;
    let (mediator_id, id) = (&credit.mediator_id, &credit.mediation_id);
    let mut tx = db.begin().await?;
    if store::mediator(&mut tx, mediator_id).await?.is_none() {
        return Err(Error::not_found(format!(
            "mediator {mediator_id} not found"
        )));
    }
    let file = reread(&mut tx, id, keyring).await?;
    file.standing.apply(Transition::CreditPerformance)?;
    if !file.mediators().contains(mediator_id) {
        return Err(Error::precondition(format!(
            "mediator {mediator_id} sat in no session of mediation {id}"
        )));
    }
    if !store::credit(
        &mut tx,
        mediator_id,
        id,
        credit.difficulty_points,
        now_millis(),
    )
    .await?
    {
        return Err(Error::AlreadyExists(format!(
            "mediator {mediator_id} was already credited for mediation {id}"
        )));
    }
    let mediator = store::mediator(&mut tx, mediator_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("mediator {mediator_id} not found")))?;
    db.commit(tx).await?;
    tracing::info!(mediator_id = %mediator_id, mediation_id = %id, points = credit.difficulty_points, "mediator credited");
    Ok(mediator)
}

/// GetMediation.
pub async fn get_mediation(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::GetMediationRequest,
) -> Result<pb::MediationFile, Error> {
    let id = mediation_id(&request.mediation_id)?;
    let mut conn = db.pool().acquire().await?;
    store::file(&mut conn, &id, keyring)
        .await?
        .filter(|file| access::may_see(scope, &file.committee))
        .map(|file| file.to_proto())
        .ok_or_else(|| not_found(&id))
}

/// ListMediations: oldest opened first, page by page.
pub async fn list_mediations(
    db: &Db,
    keyring: &Keyring,
    scope: &Scope,
    request: &pb::ListMediationsRequest,
) -> Result<pb::ListMediationsResponse, Error> {
    let mut filter = MediationFilter::parse(request)?;
    filter.committee = access::committee_to_list(scope, &filter.committee)?.to_string();
    let mut conn = db.pool().acquire().await?;
    let (files, next_page_token) = store::list_files(&mut conn, &filter, keyring).await?;
    Ok(pb::ListMediationsResponse {
        mediations: files.iter().map(FileRecord::to_proto).collect(),
        next_page_token,
    })
}

/// ListCommittees: the eight committees as stored.
pub async fn list_committees(db: &Db) -> Result<pb::ListCommitteesResponse, Error> {
    let mut conn = db.pool().acquire().await?;
    Ok(pb::ListCommitteesResponse {
        committees: store::committees(&mut conn).await?,
    })
}

/// RegisterMediator: a new mediator of a committee, with no points yet.
pub async fn register_mediator(
    db: &Db,
    request: &pb::RegisterMediatorRequest,
) -> Result<pb::Mediator, Error> {
    let new = NewMediator::parse(request)?;
    let mediator = pb::Mediator {
        mediator_id: uuid::Uuid::now_v7().to_string(),
        name: new.name,
        committee: new.committee.code.to_string(),
        difficulty_points: 0,
    };
    let mut tx = db.begin().await?;
    store::insert_mediator(&mut tx, &mediator, now_millis()).await?;
    db.commit(tx).await?;
    tracing::info!(mediator_id = %mediator.mediator_id, committee = %mediator.committee, "mediator registered");
    Ok(mediator)
}

/// ListMediators: of one committee, or of all when none is named.
pub async fn list_mediators(
    db: &Db,
    request: &pb::ListMediatorsRequest,
) -> Result<pb::ListMediatorsResponse, Error> {
    let committee = mediators_filter(request)?;
    let mut conn = db.pool().acquire().await?;
    Ok(pb::ListMediatorsResponse {
        mediators: store::mediators(&mut conn, &committee).await?,
    })
}
