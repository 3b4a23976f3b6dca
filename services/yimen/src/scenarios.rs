//! The seven scenarios of the seed report (`domain.md`), played for real through the public
//! gRPC API of a running installation, each step said as it happens. `make run` plays them on
//! standalone; the end-to-end suite plays each one in both deployment modes and asserts where
//! it ends.
//!
//! The people are invented (names and identity numbers that only pass the check digit); the
//! matters, places, headcounts and amounts are the seed's.

use std::time::Duration;

use anyhow::{Context, bail};
use yimen_platform::time::timestamp;
use yimen_proto::v1::*;

use crate::cli::analysis::{alerts_text, situation_text};
use crate::cli::mediation::agreement_text;
use crate::cli::parse::short_name;
use crate::cli::render;
use crate::cli::scorecard::scorecards_text;
use crate::client::{self, Clients};

/// One of the seven scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    ExpoMerchants,
    GrainMoney,
    MedicalInsurance,
    PropertyCompany,
    FertilizerPlant,
    RenovationFall,
    LetterToSecretary,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::ExpoMerchants,
        Scenario::GrainMoney,
        Scenario::MedicalInsurance,
        Scenario::PropertyCompany,
        Scenario::FertilizerPlant,
        Scenario::RenovationFall,
        Scenario::LetterToSecretary,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Scenario::ExpoMerchants => "1. The expo merchants (涉疫群体访, no responsible unit)",
            Scenario::GrainMoney => "2. The unpaid grain money (诉调: court-entrusted mediation)",
            Scenario::MedicalInsurance => "3. Medical insurance withholding (three departments)",
            Scenario::PropertyCompany => "4. The property company and 168 households",
            Scenario::FertilizerPlant => "5. Death at a fertilizer plant (town \"5+X\")",
            Scenario::RenovationFall => {
                "6. A fall at a house renovation (the city guides the town)"
            }
            Scenario::LetterToSecretary => "7. A letter to the party secretary (leader sign-off)",
        }
    }
}

/// What a scenario left behind: its cases, the last one the main one.
#[derive(Debug, Clone)]
pub struct Journey {
    pub scenario: Scenario,
    /// (case id, case number), in the order they were registered.
    pub cases: Vec<(String, String)>,
}

impl Journey {
    /// The scenario's main case id.
    pub fn case_id(&self) -> &str {
        self.cases.last().map(|c| c.0.as_str()).unwrap_or_default()
    }
}

/// Plays scenarios against `clients`, saying each step to `say`.
pub struct Player {
    clients: Clients,
    say: Box<dyn Fn(&str) + Send + Sync>,
    /// Makes this run's idempotency keys its own, so a second run registers new cases.
    run: String,
    patience: Duration,
}

const MEDIATOR_NAMES: [&str; 24] = [
    "周文华",
    "吴建国",
    "郑秀兰",
    "王志强",
    "冯桂英",
    "陈立新",
    "褚明",
    "卫红梅",
    "蒋德胜",
    "沈玉兰",
    "韩国庆",
    "杨春燕",
    "朱永安",
    "秦淑珍",
    "尤海波",
    "许建华",
    "何丽萍",
    "吕志刚",
    "施凤英",
    "张卫东",
    "孔繁荣",
    "曹月娥",
    "严东升",
    "华素芬",
];

/// Identity numbers that pass the GB 11643 check digit (Zhongxiang's area code 420881), one
/// per person of the seven scenarios: only the letter's writer comes twice.
const IDS: [&str; 26] = [
    "420881197003137662",
    "420881195302276487",
    "420881195606191597",
    "42088119820402188X",
    "420881197707033466",
    "420881195509141600",
    "420881198602087454",
    "420881199010026900",
    "420881198707023262",
    "420881195209282364",
    "42088119680705653X",
    "420881195710106735",
    "420881199303046956",
    "420881198611074815",
    "420881195609231646",
    "42088119860120310X",
    "420881198111185375",
    "420881197008195642",
    "420881197305089133",
    "42088119611225349X",
    "420881195510106378",
    "420881198106245599",
    "420881196810032205",
    "420881198207068755",
    "420881196803124611",
    "42088119750921352X",
];

fn person(name: &str, id: usize) -> Person {
    Person {
        name: name.into(),
        id_number: IDS[id].into(),
        phone: format!("1390724{:04}", 1000 + id),
    }
}

fn yuan(whole: i64) -> Money {
    Money { fen: whole * 100 }
}

fn at(l: &str) -> Option<Location> {
    Some(Location {
        town: l.into(),
        village: String::new(),
    })
}

/// A time `days` from now, as the API takes it.
fn days_from_now(days: i64) -> Option<prost_types::Timestamp> {
    Some(timestamp(
        yimen_platform::db::now_millis() + days * 24 * 3600 * 1000,
    ))
}

impl Player {
    pub fn new(clients: Clients, say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            clients,
            say: Box::new(say),
            run: uuid::Uuid::now_v7().simple().to_string(),
            patience: Duration::from_secs(30),
        }
    }

    fn step(&self, line: impl AsRef<str>) {
        (self.say)(&format!("   · {}", line.as_ref()));
    }

    /// Registers mediators for every committee that has none yet (three each).
    pub async fn seed_mediators(&self) -> anyhow::Result<usize> {
        let mut mediation = self.clients.mediation.clone();
        let committees = mediation
            .list_committees(ListCommitteesRequest {})
            .await?
            .into_inner()
            .committees;
        let mut names = MEDIATOR_NAMES.iter().cycle();
        let mut registered = 0;
        for committee in committees {
            let present = mediation
                .list_mediators(ListMediatorsRequest {
                    committee: committee.code.clone(),
                })
                .await?
                .into_inner()
                .mediators;
            for _ in present.len()..3 {
                mediation
                    .register_mediator(RegisterMediatorRequest {
                        name: names.next().copied().unwrap_or("调解员").into(),
                        committee: committee.code.clone(),
                    })
                    .await?;
                registered += 1;
            }
        }
        Ok(registered)
    }

    /// Plays one scenario to its end.
    pub async fn play(&self, scenario: Scenario) -> anyhow::Result<Journey> {
        (self.say)(&format!("\n{}", scenario.title()));
        let cases = match scenario {
            Scenario::ExpoMerchants => self.expo_merchants().await,
            Scenario::GrainMoney => self.grain_money().await,
            Scenario::MedicalInsurance => self.medical_insurance().await,
            Scenario::PropertyCompany => self.property_company().await,
            Scenario::FertilizerPlant => self.fertilizer_plant().await,
            Scenario::RenovationFall => self.renovation_fall().await,
            Scenario::LetterToSecretary => self.letter_to_secretary().await,
        }
        .with_context(|| format!("scenario {}", scenario.title()))?;
        for (id, _) in &cases {
            self.show_journey(id).await?;
        }
        Ok(Journey { scenario, cases })
    }

    /// 2020-11-12: 19 of 38 exhibitors of a cancelled expo come to the one door demanding
    /// 300,000+ yuan from two companies. Collective, no responsible unit: the city center takes
    /// it, the intelligence center is alerted, the civil and commercial committee mediates a
    /// one-off 54,000 yuan within the day.
    async fn expo_merchants(&self) -> anyhow::Result<Vec<(String, String)>> {
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 19,
                petitioners: ["刘海涛", "马晓丽", "孙国平", "黄丽娟", "林志勇"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, i))
                    .collect(),
                subject: "展会因疫情取消,参展商要求赔偿损失".into(),
                description: "38家参展商按约到达后才被告知美食游乐嘉年华不能举办;摊位费、交通费、误工费和变质货物损失要求主办两公司赔偿。".into(),
                category: Category::CivilCommercial as i32,
                location: at("郢中街道"),
                amount_claimed: Some(yuan(300_000)),
                request_id: format!("{}-expo", self.run),
                ..Default::default()
            })
            .await?;
        let assignment = self.assignment(&case.0).await?;
        self.step(format!(
            "no department owns civil and commercial disputes: {} took it ({})",
            assignment.department, assignment.reason
        ));
        self.alerts(&case.0, 2).await?;
        let assignment = self.accept(&assignment).await?;
        let file = self
            .refer(
                &assignment,
                Linkage::Petition,
                "参展商损失赔偿纠纷 (exhibitors' losses from the cancelled expo)",
            )
            .await?;
        self.session(&file, 2, "“选哥”调解室 (the master-mediator room)")
            .await?;
        self.agree(
            &file,
            Agreement {
                amount: Some(yuan(54_000)),
                payer: "主办方 (明珠房地产公司、熙喆文化公司)".into(),
                payee: "19名参展商户代表的38家参展商".into(),
                terms: "主办方一次性补偿参展商户54000元,商户返程。".into(),
                installments: Vec::new(),
            },
        )
        .await?;
        self.evaluate(&case.0, Satisfaction::Satisfied).await?;
        Ok(vec![case])
    }

    /// 2020-06: a flooded rice mill's owner fled his debts; 74 households of 12 villages were
    /// owed 2.1 million yuan for grain. The court, unable to serve or enforce, entrusts the
    /// case to mediation: three years of installments, confirmed by the court.
    async fn grain_money(&self) -> anyhow::Result<Vec<(String, String)>> {
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::CourtReferral as i32,
                headcount: 74,
                petitioners: ["赵德明", "钱玉珍", "李春生", "周桂花", "吴长青"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, 5 + i))
                    .collect(),
                subject: "大米加工厂老板外出躲债,74户农户卖粮款210万元无着".into(),
                description: "东桥镇一大米加工厂遭水灾被淹,老板外出躲债,周边12个村74户农户的卖粮款未付;农户向法院起诉,法院认为无法送达、判决后难执行。".into(),
                category: Category::Agriculture as i32,
                location: at("东桥镇"),
                amount_claimed: Some(yuan(2_100_000)),
                request_id: format!("{}-grain", self.run),
                ..Default::default()
            })
            .await?;
        let assignment = self.assignment(&case.0).await?;
        self.accept(&assignment).await?;
        let mut mediation = self.clients.mediation.clone();
        let file = mediation
            .open_mediation(OpenMediationRequest {
                case_id: case.0.clone(),
                linkage: Linkage::Court as i32,
                category: Category::Agriculture as i32,
                summary: "法院委托调解:拖欠74户农户卖粮款 (court-entrusted: unpaid grain money)"
                    .into(),
                committee: String::new(),
            })
            .await?
            .into_inner();
        self.step(format!(
            "the court entrusted the case to mediation (诉调): the {} committee opened file {}",
            file.committee, file.mediation_id
        ));
        self.session(&file, 3, "市矛盾纠纷调处中心 调解室").await?;
        let installment = |years: i64| Installment {
            due: days_from_now(365 * years),
            amount: Some(yuan(700_000)),
        };
        let file = self
            .agree(
                &file,
                Agreement {
                    amount: Some(yuan(2_100_000)),
                    payer: "大米加工厂经营者周某".into(),
                    payee: "12个村74户农户".into(),
                    terms: "分三年还清全部卖粮款,每年70万元,与74户农户分别签订调解协议书。".into(),
                    installments: (1..=3).map(installment).collect(),
                },
            )
            .await?;
        mediation
            .request_court_confirmation(RequestCourtConfirmationRequest {
                mediation_id: file.mediation_id.clone(),
            })
            .await?;
        let file = mediation
            .record_court_decision(RecordCourtDecisionRequest {
                mediation_id: file.mediation_id.clone(),
                confirmed: true,
            })
            .await?
            .into_inner();
        self.step(format!(
            "the court confirmed the agreement (司法确认): file {} is {}",
            file.mediation_id,
            short_name(
                "MEDIATION_STATE_",
                MediationState::try_from(file.state)
                    .unwrap_or_default()
                    .as_str_name()
            )
        ));
        self.evaluate(&case.0, Satisfaction::Satisfied).await?;
        Ok(vec![case])
    }

    /// 2020-10: reimbursements fail because of a withholding error. The medical insurance
    /// bureau, the tax bureau and the bank each pass it on; the third return makes it a problem
    /// case (问题件) the center holds under supervision (督办). The executive vice mayor takes it
    /// (包案) and gets all three to settle it at once; then every similar case already answered
    /// is searched out and sent for handling again in one step (全面排查类似问题).
    async fn medical_insurance(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.bank_at_the_center().await?;
        // Earlier petitions of the same fault, answered one by one before it was found.
        let mut earlier = Vec::new();
        for (i, name) in ["胡国强", "叶春梅"].iter().enumerate() {
            let case = self
                .submit(SubmitCaseRequest {
                    channel: Channel::Phone as i32,
                    headcount: 1,
                    petitioners: vec![person(name, 24 + i)],
                    subject: "医保费代扣失败,住院费用不能报销".into(),
                    description: "银行卡已扣款,但医保显示欠缴。".into(),
                    category: Category::MedicalInsurance as i32,
                    location: at("郢中街道"),
                    amount_claimed: None,
                    request_id: format!("{}-insurance-earlier-{i}", self.run),
                    ..Default::default()
                })
                .await?;
            let first = self.assignment(&case.0).await?;
            let first = self.accept(&first).await?;
            self.reply(&first, "已为当事人补缴,费用已报销。").await?;
            self.evaluate(&case.0, Satisfaction::Satisfied).await?;
            earlier.push(case);
        }
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 3,
                petitioners: ["彭光明", "邓小红", "曾庆华"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, 10 + i))
                    .collect(),
                subject: "医保代扣代缴出错,医疗费用不能报销".into(),
                description: "医保费由银行代扣,代扣环节出错导致参保中断,住院费用无法报销。".into(),
                category: Category::MedicalInsurance as i32,
                location: at("郢中街道"),
                amount_claimed: None,
                request_id: format!("{}-insurance", self.run),
                ..Default::default()
            })
            .await?;
        let mut dispatch = self.clients.dispatch.clone();
        let mut held = self.assignment(&case.0).await?;
        for reason in [
            "代扣环节在金融机构,不属本局职责 (the withholding is the bank's)",
            "本局只负责征收,代扣出错在银行 (the tax bureau only collects)",
            "扣款指令来自医保系统,非银行差错 (the bank only executes the order)",
        ] {
            let returned = dispatch
                .return_assignment(ReturnAssignmentRequest {
                    assignment_id: held.assignment_id.clone(),
                    reason: reason.into(),
                })
                .await?
                .into_inner();
            let next = returned
                .reassigned
                .context("a returned case is always assigned again")?;
            self.step(format!(
                "{} returned it as not its own; it went on to {} ({})",
                held.department, next.department, next.reason
            ));
            held = next;
        }
        if held.escalation() == EscalationLevel::Supervision {
            self.step(format!(
                "returned three times: a problem case (问题件), under supervision (督办) with {}",
                held.department
            ));
        }
        let led = dispatch
            .assign_leader(AssignLeaderRequest {
                assignment_id: held.assignment_id.clone(),
                leader: "常务副市长 (the executive vice mayor)".into(),
            })
            .await?
            .into_inner();
        self.step(format!("a leader took the case (包案): {}", led.leader));
        let held = self.accept(&held).await?;
        self.reply(
            &held,
            "分管领导组织市农行、医保局、税务局和当事人协调,明确各方责任,当场处置兑现;责令全面排查类似问题。",
        )
        .await?;
        let swept = dispatch
            .sweep_similar_cases(SweepSimilarCasesRequest {
                category: Category::MedicalInsurance as i32,
                words: vec!["代扣".into()],
                reason: "银行代扣接口已修复,同类问题逐一复核 (the withholding interface is fixed)"
                    .into(),
                prompted_by: case.0.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        for similar in &swept.cases {
            let to = similar
                .reassigned
                .as_ref()
                .map_or("", |a| a.department.as_str());
            self.step(format!(
                "similar case {} searched out (全面排查): sent to {to} to handle again",
                similar.case_number
            ));
        }
        // Each checked again against the fixed withholding, answered and settled.
        for similar in &swept.cases {
            let again = self.assignment(&similar.case_id).await?;
            let again = self.accept(&again).await?;
            self.reply(&again, "按修复后的代扣数据复核,参保记录已更正。")
                .await?;
            self.evaluate(&similar.case_id, Satisfaction::Satisfied)
                .await?;
        }
        self.evaluate(&case.0, Satisfaction::Satisfied).await?;
        earlier.push(case);
        Ok(earlier)
    }

    /// The bank (市农行) at the center for the medical insurance scenario: it owns medical
    /// insurance withholding after the bureaus (joined once; a second run finds it there).
    async fn bank_at_the_center(&self) -> anyhow::Result<()> {
        let joined = self
            .clients
            .dispatch
            .clone()
            .join_department(JoinDepartmentRequest {
                code: "agri-bank".into(),
                name: "农业银行钟祥支行".into(),
                level: DepartmentLevel::City as i32,
                categories: vec![Category::MedicalInsurance as i32],
                ..Default::default()
            })
            .await;
        match joined {
            Ok(_) => self.step("the bank (农业银行钟祥支行) joined the center"),
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(status.into()),
        }
        Ok(())
    }

    /// 2021-01: 168 households against their property company (quality, parking, greenery,
    /// noise, signs). Ten mediators, face-to-face meetings, settled in under two weeks.
    async fn property_company(&self) -> anyhow::Result<Vec<(String, String)>> {
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 12,
                petitioners: ["胡春兰", "袁志军", "潘建平", "蔡文静", "龚德华"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, 13 + i))
                    .collect(),
                subject: "168户业主与物业公司纠纷".into(),
                description: "房屋质量、相邻权、车位停放、院内绿化、装修噪音、广告牌影响采光。"
                    .into(),
                category: Category::HousingProperty as i32,
                location: at("郢中街道"),
                amount_claimed: None,
                request_id: format!("{}-property", self.run),
                ..Default::default()
            })
            .await?;
        let assignment = self.assignment(&case.0).await?;
        let assignment = self.accept(&assignment).await?;
        let file = self
            .refer(
                &assignment,
                Linkage::Administrative,
                "业主与物业公司纠纷 (owners against their property company)",
            )
            .await?;
        self.session(&file, 10, "万昌物业现场 (on site)").await?;
        self.agree(
            &file,
            Agreement {
                amount: Some(yuan(0)),
                payer: "万昌物业公司".into(),
                payee: "168户业主".into(),
                terms: "物业公司限期整改房屋质量问题,重新划定车位,恢复绿化,规范装修时段,移除遮光广告牌;业主委员会监督。".into(),
                installments: Vec::new(),
            },
        )
        .await?;
        self.evaluate(&case.0, Satisfaction::BasicallySatisfied)
            .await?;
        Ok(vec![case])
    }

    /// 2021-03-30: a hired worker dies on shift at a fertilizer plant; his family petitions
    /// Linkuang town, whose "5+X" units mediate with the labour company by 1 April.
    async fn fertilizer_plant(&self) -> anyhow::Result<Vec<(String, String)>> {
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 4,
                petitioners: ["张德芳", "张明", "王桂兰"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, 18 + i))
                    .collect(),
                subject: "务工人员上班期间突发疾病死亡,家属要求赔偿".into(),
                description: "劳务公司临时雇请的村民在肥业公司租赁车间上班期间凌晨突发疾病死亡。"
                    .into(),
                category: Category::WorkSafety as i32,
                location: at("磷矿镇"),
                amount_claimed: None,
                request_id: format!("{}-fertilizer", self.run),
                ..Default::default()
            })
            .await?;
        let assignment = self.assignment(&case.0).await?;
        self.step(format!(
            "the town's own unit took it first: {} ({})",
            assignment.department, assignment.reason
        ));
        let assignment = self.accept(&assignment).await?;
        self.reply(
            &assignment,
            "镇“5+X”机制启动:稳控、调查取证后组织家属与劳务公司调解,双方达成调解协议。",
        )
        .await?;
        self.evaluate(&case.0, Satisfaction::Satisfied).await?;
        Ok(vec![case])
    }

    /// 2020-08: a worker falls to his death renovating a house in Shipai town; the town cannot
    /// settle the compensation; the city center guides its mediation to "same life, same price".
    async fn renovation_fall(&self) -> anyhow::Result<Vec<(String, String)>> {
        let case = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 3,
                petitioners: ["鲁红英", "鲁志远"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| person(n, 21 + i))
                    .collect(),
                subject: "房屋装修坠落死亡赔偿纠纷".into(),
                description:
                    "受雇粉刷内墙时从跳板坠落死亡,就死亡赔偿标准与房主、承包人达不成共识。".into(),
                category: Category::CivilCommercial as i32,
                location: at("石牌镇"),
                amount_claimed: None,
                request_id: format!("{}-renovation", self.run),
                ..Default::default()
            })
            .await?;
        let assignment = self.assignment(&case.0).await?;
        let assignment = self.accept(&assignment).await?;
        self.step(format!(
            "{} could not reach agreement on the compensation alone",
            assignment.department
        ));
        let file = self
            .refer(
                &assignment,
                Linkage::Guidance,
                "死亡赔偿标准 (compensation for a death): the city guides the town",
            )
            .await?;
        self.session(&file, 2, "视频调解室 (the video room, with the town)")
            .await?;
        self.agree(
            &file,
            Agreement {
                // 20 years × Hubei's 2020 urban per-capita disposable income of 36,706 yuan.
                amount: Some(yuan(734_120)),
                payer: "房主蔡某与承包人邵某".into(),
                payee: "死者鲁某的近亲属".into(),
                terms: "按同命同价以城镇居民标准计算死亡赔偿金(20年×36706元)。".into(),
                installments: Vec::new(),
            },
        )
        .await?;
        self.evaluate(&case.0, Satisfaction::Satisfied).await?;
        Ok(vec![case])
    }

    /// 2020-04-07: a laid-off worker whose son lost his subsistence allowance writes to the
    /// party secretary — after an earlier visit went nowhere. The secretary's instruction (批示)
    /// has a deadline the supervision office follows; the street office leads (主办) with civil
    /// affairs and human resources co-handling (协办), each replying its part; the allowance is
    /// restored, the husband finds work, and the instruction is reported back (反馈).
    async fn letter_to_secretary(&self) -> anyhow::Result<Vec<(String, String)>> {
        let petitioner = || vec![person("陈琴", 23)];
        let earlier = self
            .submit(SubmitCaseRequest {
                channel: Channel::Visit as i32,
                headcount: 1,
                petitioners: petitioner(),
                subject: "儿子低保被取消".into(),
                description: "儿子患慢性肌萎缩,低保于2019年9月被取消。".into(),
                category: Category::SocialAssistance as i32,
                location: at("郢中街道"),
                amount_claimed: None,
                request_id: format!("{}-allowance-visit", self.run),
                ..Default::default()
            })
            .await?;
        let first = self.assignment(&earlier.0).await?;
        self.step(format!(
            "{} has it, but nothing has happened yet",
            first.department
        ));
        let letter = self
            .submit(SubmitCaseRequest {
                channel: Channel::GovernmentReferral as i32,
                headcount: 1,
                petitioners: petitioner(),
                subject: "致市委书记的信:恢复儿子低保,提供公益岗位".into(),
                description: "本人肌肉萎缩丧失劳动力,丈夫因疫情无法务工,儿子病情加重,无力负担医药费和学费。书记签批:责成郢中街道会同民政、人社部门迅速办理。".into(),
                category: Category::SocialAssistance as i32,
                location: at("郢中街道"),
                amount_claimed: None,
                request_id: format!("{}-allowance-letter", self.run),
                ..Default::default()
            })
            .await?;
        self.alerts(&letter.0, 1).await?;
        let assignment = self.assignment(&letter.0).await?;
        let mut dispatch = self.clients.dispatch.clone();
        let instruction = dispatch
            .record_instruction(RecordInstructionRequest {
                assignment_id: assignment.assignment_id.clone(),
                leader: "市委书记".into(),
                instruction: "责成郢中街道会同民政、人社部门迅速办理,结果报市委督查室。".into(),
                due_days: 10,
            })
            .await?
            .into_inner();
        self.step(format!(
            "the party secretary's instruction (批示) to {}: report back by {}",
            instruction.department,
            render::time(&instruction.due_at)
        ));
        let assignment = self.accept(&assignment).await?;
        let joint = dispatch
            .add_co_handlers(AddCoHandlersRequest {
                assignment_id: assignment.assignment_id.clone(),
                departments: vec!["civil-affairs".into(), "human-resources".into()],
                note: "民政核查低保,人社帮助就业".into(),
            })
            .await?
            .into_inner();
        self.step(format!(
            "{} leads (主办); {} co-handle (协办)",
            assignment.department,
            joint
                .co_handlers
                .iter()
                .map(|c| c.department.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ));
        let parts = [
            "其子重新纳入低保,补发停发期间低保金。",
            "为其丈夫介绍公益性岗位。",
        ];
        for (co_handler, part) in joint.co_handlers.iter().zip(parts) {
            let co_handler = self.accept(co_handler).await?;
            self.reply(&co_handler, part).await?;
        }
        self.reply(
            &assignment,
            "经调查属实:民政部门将其子重新纳入低保,人社部门为其丈夫介绍工作。",
        )
        .await?;
        let reported = dispatch
            .list_instructions(ListInstructionsRequest {
                overdue_only: false,
                page: None,
            })
            .await?
            .into_inner()
            .instructions
            .into_iter()
            .find(|i| i.instruction_id == instruction.instruction_id)
            .context("the instruction is listed")?;
        self.step(format!(
            "the instruction was reported back (反馈) on {}{}",
            render::time(&reported.reported_at),
            if reported.overdue {
                ", late"
            } else {
                ", in time"
            }
        ));
        let first = self.accept(&first).await?;
        self.reply(&first, &format!("已随 {} 一并办结。", letter.1))
            .await?;
        self.evaluate(&letter.0, Satisfaction::Satisfied).await?;
        self.evaluate(&earlier.0, Satisfaction::Satisfied).await?;
        Ok(vec![earlier, letter])
    }

    // ---- steps, each through the public API, waiting (bounded) for what events bring ----

    async fn submit(&self, request: SubmitCaseRequest) -> anyhow::Result<(String, String)> {
        let headcount = request.headcount;
        let r = self
            .clients
            .intake
            .clone()
            .submit_case(request)
            .await?
            .into_inner();
        self.step(format!(
            "registered {} at the one door ({headcount} came)",
            r.case_number
        ));
        Ok((r.case_id, r.case_number))
    }

    /// Polls `GetCase` until `done` holds, failing after the patience with `what`.
    pub async fn until_case(
        &self,
        case_id: &str,
        what: &str,
        done: impl Fn(&Case) -> bool,
    ) -> anyhow::Result<Case> {
        client::eventually(&format!("case {case_id} {what}"), self.patience, || async {
            let case = self
                .clients
                .intake
                .clone()
                .get_case(GetCaseRequest {
                    case_ref: case_id.into(),
                    after_position: 0,
                })
                .await?
                .into_inner();
            Ok(done(&case).then_some(case))
        })
        .await
    }

    /// The case's pending assignment, once dispatch has made it.
    async fn assignment(&self, case_id: &str) -> anyhow::Result<Assignment> {
        let case = self
            .until_case(case_id, "reached a department", |c| {
                c.status == CaseStatus::Assigned as i32 && !c.department.is_empty()
            })
            .await?;
        let mut dispatch = self.clients.dispatch.clone();
        let mut page_token = String::new();
        loop {
            let page = dispatch
                .list_assignments(ListAssignmentsRequest {
                    department: case.department.clone(),
                    states: vec![AssignmentState::Pending as i32],
                    after_position: 0,
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token,
                    }),
                })
                .await?
                .into_inner();
            if let Some(a) = page.assignments.into_iter().find(|a| a.case_id == case_id) {
                self.step(format!(
                    "assigned to {}, to accept by {}",
                    a.department,
                    render::time(&a.accept_by)
                ));
                return Ok(a);
            }
            if page.next_page_token.is_empty() {
                bail!(
                    "case {} is with {} but has no pending assignment there",
                    case.case_number,
                    case.department
                );
            }
            page_token = page.next_page_token;
        }
    }

    async fn accept(&self, a: &Assignment) -> anyhow::Result<Assignment> {
        let a = self
            .clients
            .dispatch
            .clone()
            .accept_assignment(AcceptAssignmentRequest {
                assignment_id: a.assignment_id.clone(),
                handler: String::new(),
            })
            .await?
            .into_inner();
        self.step(format!(
            "{} accepted it (受理), to handle by {}",
            a.department,
            render::time(&a.handle_by)
        ));
        Ok(a)
    }

    async fn reply(&self, a: &Assignment, text: &str) -> anyhow::Result<()> {
        self.clients
            .dispatch
            .clone()
            .reply_assignment(ReplyAssignmentRequest {
                assignment_id: a.assignment_id.clone(),
                reply: text.into(),
            })
            .await?;
        self.step(format!("{} replied (答复): {text}", a.department));
        Ok(())
    }

    /// Refers the matter to mediation and waits for the file the mediation center opens.
    async fn refer(
        &self,
        a: &Assignment,
        linkage: Linkage,
        summary: &str,
    ) -> anyhow::Result<MediationFile> {
        self.clients
            .dispatch
            .clone()
            .refer_to_mediation(ReferToMediationRequest {
                assignment_id: a.assignment_id.clone(),
                linkage: linkage as i32,
                summary: summary.into(),
            })
            .await?;
        let file = self.mediation_of(&a.case_id).await?;
        self.step(format!(
            "{} referred it to mediation; the {} committee opened file {}",
            a.department, file.committee, file.mediation_id
        ));
        Ok(file)
    }

    /// The case's mediation file, once the mediation center has opened it.
    pub async fn mediation_of(&self, case_id: &str) -> anyhow::Result<MediationFile> {
        let what = format!("a mediation file opened for case {case_id}");
        client::eventually(&what, self.patience, || async {
            let files = self
                .clients
                .mediation
                .clone()
                .list_mediations(ListMediationsRequest {
                    case_id: case_id.into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .mediations;
            Ok(files.into_iter().next())
        })
        .await
    }

    /// A session of `count` mediators: the committee's own first, then others'.
    async fn session(&self, file: &MediationFile, count: usize, room: &str) -> anyhow::Result<()> {
        let mut mediation = self.clients.mediation.clone();
        let mut mediators = mediation
            .list_mediators(ListMediatorsRequest {
                committee: String::new(),
            })
            .await?
            .into_inner()
            .mediators;
        mediators.sort_by_key(|m| m.committee != file.committee);
        let chosen: Vec<Mediator> = mediators.into_iter().take(count).collect();
        if chosen.is_empty() {
            bail!("no mediators are registered");
        }
        mediation
            .schedule_session(ScheduleSessionRequest {
                mediation_id: file.mediation_id.clone(),
                at: days_from_now(0),
                mediators: chosen.iter().map(|m| m.mediator_id.clone()).collect(),
                room: room.into(),
            })
            .await?;
        self.step(format!(
            "{} mediator(s) met the parties in {room}: {}",
            chosen.len(),
            chosen
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join("、")
        ));
        Ok(())
    }

    /// Records the agreement and waits until it has replied the case.
    async fn agree(
        &self,
        file: &MediationFile,
        agreement: Agreement,
    ) -> anyhow::Result<MediationFile> {
        let file = self
            .clients
            .mediation
            .clone()
            .record_outcome(RecordOutcomeRequest {
                mediation_id: file.mediation_id.clone(),
                outcome: MediationState::Agreed as i32,
                agreement: Some(agreement.clone()),
                difficulty: 0,
            })
            .await?
            .into_inner();
        self.step(format!(
            "agreement (调解协议): {}",
            agreement_text(&agreement)
        ));
        self.until_case(&file.case_id, "was replied by the agreement", |c| {
            c.status == CaseStatus::Replied as i32
        })
        .await?;
        self.step("the agreement replied the case");
        Ok(file)
    }

    /// Waits until analysis has raised at least `count` alerts on the case, and says them.
    async fn alerts(&self, case_id: &str, count: usize) -> anyhow::Result<Vec<Alert>> {
        let what = format!("{count} alert(s) raised on case {case_id}");
        let alerts = client::eventually(&what, self.patience, || async {
            let alerts = self
                .clients
                .analysis
                .clone()
                .list_alerts(ListAlertsRequest {
                    include_acknowledged: true,
                    case_id: case_id.into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .alerts;
            Ok((alerts.len() >= count).then_some(alerts))
        })
        .await?;
        for alert in &alerts {
            self.step(format!(
                "the intelligence center raised an alert: {}",
                alert.facts.first().cloned().unwrap_or_default()
            ));
        }
        Ok(alerts)
    }

    async fn evaluate(&self, case_id: &str, satisfaction: Satisfaction) -> anyhow::Result<()> {
        self.until_case(case_id, "was replied", |c| {
            c.status == CaseStatus::Replied as i32
        })
        .await?;
        let case = self
            .clients
            .intake
            .clone()
            .submit_evaluation(SubmitEvaluationRequest {
                case_ref: case_id.into(),
                satisfaction: satisfaction as i32,
                comment: String::new(),
            })
            .await?
            .into_inner();
        self.step(format!(
            "the petitioners evaluated the reply: {} → {}",
            short_name("SATISFACTION_", satisfaction.as_str_name()),
            short_name(
                "CASE_STATUS_",
                CaseStatus::try_from(case.status)
                    .unwrap_or_default()
                    .as_str_name()
            )
        ));
        Ok(())
    }

    /// Says the case's whole timeline, as the petitioner sees it.
    async fn show_journey(&self, case_id: &str) -> anyhow::Result<()> {
        let case = self
            .clients
            .intake
            .clone()
            .get_case(GetCaseRequest {
                case_ref: case_id.into(),
                after_position: 0,
            })
            .await?
            .into_inner();
        (self.say)(&format!("   journey of {}:", case.case_number));
        for line in &case.timeline {
            (self.say)(&format!(
                "     {}  {:<26} {}",
                render::time(&line.at),
                line.kind,
                line.summary
            ));
        }
        Ok(())
    }
}

/// How many cases analysis has closed and assessment has seen evaluated: what the demo waits
/// for before it shows their summaries, so they include every journey just played.
async fn watermarks(clients: &Clients) -> anyhow::Result<(u64, u64)> {
    let situation = clients
        .analysis
        .clone()
        .get_situation(GetSituationRequest { period: None })
        .await?
        .into_inner();
    let evaluated = clients
        .assessment
        .clone()
        .get_scorecard(GetScorecardRequest::default())
        .await?
        .into_inner()
        .scorecards
        .iter()
        .map(|c| c.evaluated)
        .sum();
    Ok((situation.closed, evaluated))
}

/// The demo of `make run`: mediators registered, the seven scenarios played, then what the
/// intelligence center and the assessment made of them.
pub async fn demo(
    clients: Clients,
    say: impl Fn(&str) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let player = Player::new(clients.clone(), say);
    let registered = player.seed_mediators().await?;
    if registered > 0 {
        (player.say)(&format!(
            "registered {registered} mediators across the eight committees"
        ));
    }
    let (closed_before, evaluated_before) = watermarks(&clients).await?;
    let mut cases = 0;
    for scenario in Scenario::ALL {
        cases += player.play(scenario).await?.cases.len() as u64;
    }
    // Every case played ends evaluated and closed; wait (bounded) until both centers saw it.
    let caught_up = client::eventually(
        "analysis and assessment caught up",
        player.patience,
        || async {
            let (closed, evaluated) = watermarks(&clients).await?;
            Ok(
                (closed >= closed_before + cases && evaluated >= evaluated_before + cases)
                    .then_some(()),
            )
        },
    )
    .await;
    if caught_up.is_err() {
        (player.say)("(analysis or assessment is still catching up; figures may lag)");
    }
    summaries(&clients, &player.say).await
}

/// `yimen situation`, `yimen alerts` and `yimen scorecard`, one after the other.
pub async fn summaries(clients: &Clients, say: &dyn Fn(&str)) -> anyhow::Result<()> {
    let situation = clients
        .analysis
        .clone()
        .get_situation(GetSituationRequest { period: None })
        .await?
        .into_inner();
    say("\n== yimen situation ==");
    say(situation_text(&situation).trim_end());
    let alerts = clients
        .analysis
        .clone()
        .list_alerts(ListAlertsRequest {
            include_acknowledged: true,
            ..Default::default()
        })
        .await?
        .into_inner()
        .alerts;
    say("\n== yimen alerts ==");
    say(alerts_text(&alerts).trim_end());
    let scorecards = clients
        .assessment
        .clone()
        .get_scorecard(GetScorecardRequest::default())
        .await?
        .into_inner()
        .scorecards;
    say("\n== yimen scorecard ==");
    let worked: Vec<_> = scorecards.into_iter().filter(|c| c.assigned > 0).collect();
    say(scorecards_text(&worked).trim_end());
    Ok(())
}
