"""A realistic French demo company, the same for the same seed and day.

"Maison Vautrin Distribution" sells food-service equipment, consumables and hygiene supplies
to shops, restaurants, hotels and small industry. Three reps share 330 accounts by region
(alice: Rhône-Alpes and the South-East, bruno: the West, chloe: the North and East), under
manager manon. Every password is `demo`: for a demonstration only.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from app.models import (
    ENTITIES,
    Account,
    Activity,
    Campaign,
    CampaignResponse,
    Contact,
    Invoice,
    LifecycleStageChange,
    Opportunity,
    Order,
    OrderLine,
    Payment,
    PriceList,
    PriceListItem,
    Product,
    Reminder,
    SurveyResponse,
    TaxRate,
    Ticket,
    Visit,
)
from app.money import line_totals
from server.db import PendingChange, record_changes
from server.models import Role, User
from server.security import hash_password

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "DemoSummary", "load_demo_data"]

DEMO_PASSWORD = "demo"
DEMO_USERS = ("alice", "bruno", "chloe", "manon")
PARIS = ZoneInfo("Europe/Paris")
PHONE_AREA = {"alice": "4", "bruno": "2", "chloe": "3"}

_TOWNS = Path(__file__).with_name("data") / "towns_fr.csv"

FIRST_NAMES = (
    "Camille Léa Manon Chloé Inès Sarah Julie Emma Clara Lucie Anaïs Pauline Céline Nathalie Sophie "
    "Isabelle Sandrine Hélène Élodie Margaux Thomas Nicolas Julien Antoine Maxime Hugo Lucas Louis "
    "Pierre Mathieu Guillaume Sébastien Olivier Laurent Christophe Éric François Jérôme Benoît Arnaud"
).split()
LAST_NAMES = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèbvre "
    "Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre Mercier Dupont "
    "Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin Muller Henry Roussel "
    "Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez Fontaine Chevalier Robin Masson Sanchez "
    "Gérard Nguyen Boyer Denis Lemaire Duval Joly Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean "
    "Pérez Marchand Dufour Blanchard Marie Barbier Brun Dumas Brunet Schmitt Leroux Colin Fernandez"
).split()
BUSINESSES = (
    ("Boulangerie", "Boulangerie-pâtisserie", "small"),
    ("Pâtisserie", "Boulangerie-pâtisserie", "small"),
    ("Restaurant", "Restauration", "small"),
    ("Brasserie", "Restauration", "small"),
    ("Hôtel", "Hôtellerie", "medium"),
    ("Boucherie", "Boucherie-charcuterie", "small"),
    ("Fromagerie", "Commerce alimentaire", "small"),
    ("Traiteur", "Traiteur", "small"),
    ("Épicerie fine", "Commerce alimentaire", "small"),
    ("Cave", "Caviste", "small"),
    ("Café", "Restauration", "small"),
    ("Crêperie", "Restauration", "small"),
    ("Cantine", "Restauration collective", "medium"),
    ("Clinique", "Santé", "large"),
    ("Maison de retraite", "Santé", "medium"),
    ("Collège", "Enseignement", "medium"),
    ("Camping", "Tourisme", "medium"),
    ("Laverie", "Services", "small"),
)
LEGAL_FORMS = ("SARL", "SAS", "EURL", "SA", "SASU", "SNC")
STREETS = (
    "rue de la République",
    "avenue Jean Jaurès",
    "place du Marché",
    "rue Victor Hugo",
    "boulevard Gambetta",
    "rue Nationale",
    "rue de la Gare",
    "avenue de Verdun",
    "rue Pasteur",
    "quai des Marins",
    "rue du Commerce",
    "place de l'Église",
    "rue des Halles",
    "avenue Foch",
    "rue Émile Zola",
)
HOBBIES = (
    "randonnée",
    "cyclisme",
    "pêche",
    "œnologie",
    "jazz",
    "rugby",
    "football",
    "jardinage",
    "photographie",
    "voile",
    "cuisine",
    "lecture",
    "tennis",
    "ski",
    "théâtre",
)
ASSOCIATIONS = (
    "Rotary Club",
    "Lions Club",
    "Chambre de commerce",
    "Club des entrepreneurs",
    "Union des commerçants",
    "Association des restaurateurs",
    "Comité des fêtes",
)
ROLES = (
    "Gérant",
    "Gérante",
    "Chef de cuisine",
    "Responsable achats",
    "Directeur",
    "Directrice",
    "Comptable",
    "Second de cuisine",
    "Intendant",
    "Responsable d'exploitation",
)
COMPETITORS = ("Metro Pro", "Promocash", "Transgourmet", "Pro à Pro", "Sysco France")
ORIGINS = ("trade_fair", "web", "referral", "ad", "shop", "phone", "field")

# sku, name, category, tax category, list price in cents
PRODUCTS = (
    ("FRG-200", "Réfrigérateur inox 200 L", "Froid", "standard", 89_900),
    ("FRG-400", "Armoire réfrigérée 400 L", "Froid", "standard", 134_900),
    ("CGL-110", "Congélateur coffre 110 L", "Froid", "standard", 42_900),
    ("FOUR-6N", "Four mixte 6 niveaux", "Cuisson", "standard", 459_000),
    ("FOUR-10N", "Four mixte 10 niveaux", "Cuisson", "standard", 689_000),
    ("PIAN-4F", "Piano de cuisson 4 feux", "Cuisson", "standard", 215_000),
    ("FRIT-8L", "Friteuse électrique 8 L", "Cuisson", "standard", 38_900),
    ("LV-VAIS", "Lave-vaisselle à capot", "Laverie", "standard", 329_000),
    ("LV-VERR", "Lave-verres frontal", "Laverie", "standard", 149_000),
    ("TRANCH-300", "Trancheuse 300 mm", "Préparation", "standard", 69_900),
    ("ROBOT-CL", "Robot coupe-légumes", "Préparation", "standard", 119_000),
    ("BATT-20L", "Batteur mélangeur 20 L", "Préparation", "standard", 189_000),
    ("CAFE-2GR", "Machine à café 2 groupes", "Bar", "standard", 349_000),
    ("MOUL-CAF", "Moulin à café professionnel", "Bar", "standard", 79_900),
    ("GANT-NIT", "Gants nitrile (boîte de 100)", "Hygiène", "standard", 890),
    ("ESSU-6R", "Essuie-tout professionnel (6 rouleaux)", "Hygiène", "standard", 2_450),
    ("DEGR-5L", "Dégraissant alimentaire 5 L", "Hygiène", "standard", 2_890),
    ("LVM-5L", "Liquide vaisselle main 5 L", "Hygiène", "standard", 1_590),
    ("DESINF-1L", "Désinfectant surfaces 1 L", "Hygiène", "standard", 690),
    ("SAC-100L", "Sacs poubelle 100 L (rouleau de 25)", "Hygiène", "standard", 1_290),
    ("BARQ-ALU", "Barquettes aluminium (lot de 100)", "Emballage", "standard", 1_990),
    ("BOIT-PIZ", "Boîtes à pizza 33 cm (lot de 100)", "Emballage", "standard", 3_490),
    ("GOB-CART", "Gobelets carton 20 cl (lot de 1000)", "Emballage", "standard", 4_290),
    ("SERV-PAP", "Serviettes papier 2 plis (lot de 2000)", "Emballage", "standard", 3_190),
    ("CAFE-GR1", "Café en grains 1 kg", "Épicerie", "reduced", 1_890),
    ("THE-100", "Thé noir (100 sachets)", "Épicerie", "reduced", 990),
    ("SUCRE-5K", "Sucre en morceaux 5 kg", "Épicerie", "reduced", 1_150),
    ("HUILE-10L", "Huile de friture 10 L", "Épicerie", "reduced", 2_990),
    ("FARI-25K", "Farine T55 25 kg", "Épicerie", "reduced", 1_990),
    ("CHOC-5K", "Chocolat de couverture 5 kg", "Épicerie", "reduced", 7_490),
    ("JUS-ORA", "Jus d'orange 1 L (carton de 12)", "Boissons", "reduced", 2_290),
    ("EAU-GAZ", "Eau gazeuse 50 cl (pack de 24)", "Boissons", "reduced", 1_190),
    ("SODA-33", "Soda 33 cl (pack de 24)", "Boissons", "reduced", 1_690),
    ("BIERE-FUT", "Bière pression fût 30 L", "Boissons", "standard", 8_990),
    ("REPAS-SAL", "Plateau repas salade (livraison)", "Traiteur", "intermediate", 1_250),
    ("REPAS-CH", "Plateau repas chaud (livraison)", "Traiteur", "intermediate", 1_590),
    ("MAINT-AN", "Contrat de maintenance annuel", "Services", "standard", 59_000),
    ("INSTAL", "Installation et mise en service", "Services", "standard", 25_000),
    ("FORM-HACCP", "Formation HACCP (1 jour)", "Services", "standard", 45_000),
    ("LIVRE-REC", "Livre de recettes professionnel", "Librairie", "super_reduced", 3_500),
)
TAXES = (
    ("standard", 2000, "TVA 20 %"),
    ("intermediate", 1000, "TVA 10 %"),
    ("reduced", 550, "TVA 5,5 %"),
    ("super_reduced", 210, "TVA 2,1 %"),
)


@dataclass(frozen=True)
class Town:
    name: str
    postcode: str
    lat: float
    lon: float
    territory: str


@dataclass
class DemoSummary:
    users: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def load_towns() -> list[Town]:
    with _TOWNS.open(encoding="utf-8") as handle:
        return [
            Town(r["name"], r["postcode"], float(r["lat"]), float(r["lon"]), r["territory"])
            for r in csv.DictReader(handle)
        ]


def _luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def _siren(rng: random.Random) -> str:
    body = f"{rng.randrange(10**7, 10**8)}"
    return body + _luhn_digit(body)


def _siret(rng: random.Random, siren: str) -> str:
    body = siren + f"{rng.randrange(1, 9999):04d}"
    return body + _luhn_digit(body)


def _vat_number(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def _ascii(text: str) -> str:
    import unicodedata

    return (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "").replace("'", "")
    )


class _Ids:
    """UUIDv7 ids whose time part is the record's own date and whose random part is seeded."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self, when: datetime) -> str:
        millis = int(when.timestamp() * 1000) & ((1 << 48) - 1)
        rand_a = self._rng.getrandbits(12)
        rand_b = self._rng.getrandbits(62)
        value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
        return str(UUID(int=value))


def _paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS).astimezone(UTC)


class _Writer:
    """Collects rows per table and writes them with Core, recording their change-log entries."""

    def __init__(self, anchor: datetime) -> None:
        self.rows: dict[type[SQLModel], list[dict[str, Any]]] = {}
        self.anchor = anchor

    def add(self, record: SQLModel) -> Any:
        row = record.model_dump()
        # A record not dated by the generator is stamped with the demo day, not the clock.
        row["updated_at"] = min(row["updated_at"], self.anchor)
        self.rows.setdefault(type(record), []).append(row)
        return record

    def flush(self, session: Session, owners: dict[str, str | None]) -> dict[str, int]:
        counts = {}
        connection = session.connection()
        order = list(ENTITIES)
        for model, rows in sorted(self.rows.items(), key=lambda item: order.index(item[0].__tablename__)):  # type: ignore[arg-type]
            table: sa.Table = model.__table__  # type: ignore[attr-defined]
            for chunk in _chunked(rows, 2000):
                connection.execute(sa.insert(table), chunk)
            record_changes(session, (self._change(table.name, row, owners) for row in rows))
            counts[table.name] = len(rows)
        return counts

    @staticmethod
    def _change(entity: str, row: dict[str, Any], owners: dict[str, str | None]) -> PendingChange:
        account_id = row["id"] if entity == "account" else row.get("account_id")
        return PendingChange(entity, row["id"], "upsert", account_id, owners.get(account_id or ""), owner_known=True)


def _chunked(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _weighted_months(rng: random.Random, start: date, today: date, count: int) -> Iterable[date]:
    span = (today - start).days
    return sorted(start + timedelta(days=rng.randrange(span)) for _ in range(count))


def load_demo_data(*, session: Session, seed: int = 42, today: date | None = None) -> DemoSummary:
    """Write the demo company into an empty database; same seed and day, same data."""
    if session.exec(sa.select(User.id).limit(1)).first() is not None:  # type: ignore[call-overload]
        raise ValueError("the database already has users: demo data goes into an empty database only")
    today = today or datetime.now(PARIS).date()
    rng = random.Random(seed)
    make_id = _Ids(rng)
    anchor = _paris(today, 8)
    out = _Writer(anchor)
    summary = DemoSummary()

    password_hash = hash_password(DEMO_PASSWORD)
    manon = User(
        id=make_id(anchor - timedelta(days=900)),
        username="manon",
        full_name="Manon Lefort",
        email="manon.lefort@vautrin-distribution.fr",
        role=Role.manager,
        password_hash=password_hash,
    )
    reps = {
        name: User(
            id=make_id(anchor - timedelta(days=899 - i)),
            username=name,
            full_name=full,
            email=f"{name}.{full.split()[1].lower()}@vautrin-distribution.fr",
            role=Role.rep,
            manager_id=manon.id,
            password_hash=password_hash,
            monthly_revenue_target_amount=target,
            monthly_order_target=orders,
        )
        for i, (name, full, target, orders) in enumerate(
            (
                ("alice", "Alice Perrin", 200_000_00, 48),
                ("bruno", "Bruno Keller", 220_000_00, 50),
                ("chloe", "Chloé Martel", 210_000_00, 45),
            )
        )
    }
    session.add(manon)
    session.flush()
    session.add_all(reps.values())
    session.flush()
    summary.users = {u.username: u.role for u in (*reps.values(), manon)}

    catalogue_time = anchor - timedelta(days=1000)
    tax_rates = {}
    for category, rate_bp, label in TAXES:
        tax_rates[category] = rate_bp
        out.add(TaxRate(id=make_id(catalogue_time), category=category, rate_bp=rate_bp, label=label))
    products = []
    for sku, name, category, tax_category, price in PRODUCTS:
        products.append(
            out.add(
                Product(
                    id=make_id(catalogue_time),
                    sku=sku,
                    name=name,
                    category=category,
                    tax_category=tax_category,
                    list_price_amount=price,
                    in_stock=rng.random() > 0.08,
                )
            )
        )
    general = out.add(
        PriceList(id=make_id(catalogue_time), name="Tarif général 2026", valid_from=date(today.year, 1, 1))
    )
    key_accounts = out.add(
        PriceList(
            id=make_id(catalogue_time),
            name="Tarif grands comptes",
            segment="key_account",
            valid_from=date(today.year, 1, 1),
        )
    )
    for product in products:
        out.add(
            PriceListItem(
                id=make_id(catalogue_time),
                price_list_id=general.id,
                product_id=product.id,
                unit_price_amount=product.list_price_amount,
            )
        )
        out.add(
            PriceListItem(
                id=make_id(catalogue_time),
                price_list_id=key_accounts.id,
                product_id=product.id,
                unit_price_amount=product.list_price_amount * 92 // 100,
            )
        )
        out.add(
            PriceListItem(
                id=make_id(catalogue_time),
                price_list_id=key_accounts.id,
                product_id=product.id,
                min_quantity=10,
                unit_price_amount=product.list_price_amount * 88 // 100,
            )
        )
    campaign = out.add(
        Campaign(
            id=make_id(anchor - timedelta(days=200)),
            name="Salon Sirha — invitations",
            channel="email",
            starts_on=today - timedelta(days=200),
            ends_on=today - timedelta(days=170),
        )
    )
    survey = out.add(
        Campaign(
            id=make_id(anchor - timedelta(days=120)),
            name="Enquête satisfaction annuelle",
            channel="email",
            starts_on=today - timedelta(days=120),
            ends_on=today - timedelta(days=90),
        )
    )

    towns = load_towns()
    history_start = today - timedelta(days=800)
    owners: dict[str, str | None] = {}
    used_names: set[str] = set()
    for rep_name, rep in reps.items():
        rep_towns = [t for t in towns if t.territory == rep_name]
        for _ in range(110):
            town = rng.choice(rep_towns)
            business, industry, size = rng.choice(BUSINESSES)
            while True:
                surname = rng.choice(LAST_NAMES)
                name = (
                    f"{business} {surname}"
                    if rng.random() < 0.6
                    else f"{business} du {rng.choice(('Centre', 'Port', 'Marché', 'Parc', 'Lac', 'Château', 'Moulin', 'Pont'))}"
                )
                name = f"{name} — {town.name}" if name in used_names else name
                if name not in used_names:
                    used_names.add(name)
                    break
            created = _paris(history_start - timedelta(days=rng.randrange(0, 900)), 10)
            siren = _siren(rng)
            domain = _ascii(f"{business}{surname}")[:24] + ".fr"
            stage_roll = rng.random()
            stage = (
                "ambassador"
                if stage_roll < 0.06
                else "client"
                if stage_roll < 0.6
                else "buyer"
                if stage_roll < 0.72
                else "prospect"
                if stage_roll < 0.84
                else "lead"
                if stage_roll < 0.92
                else "suspect"
                if stage_roll < 0.96
                else "lost"
            )
            competitor = (
                rng.choice(COMPETITORS) if stage in ("prospect", "lead", "lost") or rng.random() < 0.15 else None
            )
            account = out.add(
                Account(
                    id=make_id(created),
                    name=name,
                    legal_form=rng.choice(LEGAL_FORMS),
                    siren=siren,
                    siret=_siret(rng, siren),
                    vat_number=_vat_number(siren),
                    industry=industry,
                    size=size,
                    external_id=f"ERP-{rng.randrange(100000, 999999)}",
                    billing_street=f"{rng.randrange(1, 120)} {rng.choice(STREETS)}",
                    billing_postcode=town.postcode,
                    billing_city=town.name,
                    billing_lat=round(town.lat + rng.uniform(-0.02, 0.02), 5),
                    billing_lon=round(town.lon + rng.uniform(-0.02, 0.02), 5),
                    phone=f"+33 {PHONE_AREA[rep_name]} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                    email=f"contact@{domain}",
                    website=f"https://www.{domain}",
                    social_profiles={"linkedin": f"https://www.linkedin.com/company/{domain[:-3]}"}
                    if rng.random() < 0.4
                    else {},
                    origin=rng.choice(ORIGINS),
                    first_touch_at=created,
                    lifecycle_stage=stage,
                    segment="key_account"
                    if size == "large" or rng.random() < 0.08
                    else ("smb" if size == "small" else "mid_market"),
                    tags=rng.sample(
                        ["bio", "franchise", "saisonnier", "haut de gamme", "chaîne", "indépendant"],
                        k=rng.randrange(0, 3),
                    ),
                    preferred_channel=rng.choice(("visit", "phone", "email")),
                    payment_terms_days=rng.choice((30, 30, 45, 60)),
                    credit_limit_amount=rng.choice((500_000, 1_000_000, 2_000_000, 5_000_000)),
                    competitor=competitor,
                    competitor_contract_end=(today + timedelta(days=rng.randrange(10, 300)))
                    if competitor and stage != "lost"
                    else None,
                    lost_reason="Prix jugés trop élevés face au concurrent" if stage == "lost" else None,
                    notes=rng.choice(
                        (
                            None,
                            "Préfère être appelé le matin.",
                            "Fermeture annuelle en août.",
                            "Livraison par l'arrière-cour.",
                            "Sensible aux offres groupées.",
                        )
                    ),
                    owner_id=rep.id,
                    created_at=created,
                    updated_at=created,
                )
            )
            owners[account.id] = rep.id
            out.add(
                LifecycleStageChange(id=make_id(created), account_id=account.id, to_stage="lead", changed_at=created)
            )
            if stage not in ("lead", "suspect"):
                out.add(
                    LifecycleStageChange(
                        id=make_id(created + timedelta(days=30)),
                        account_id=account.id,
                        from_stage="lead",
                        to_stage=stage,
                        changed_at=created + timedelta(days=30),
                    )
                )
            contacts = []
            for index in range(rng.choice((1, 1, 2, 2, 3, 4))):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                contacts.append(
                    out.add(
                        Contact(
                            id=make_id(created),
                            account_id=account.id,
                            first_name=first,
                            last_name=last,
                            role=rng.choice(ROLES),
                            email=f"{_ascii(first)}.{_ascii(last)}@{domain}",
                            phone=account.phone,
                            mobile=f"+33 6 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                            preferred_channel=rng.choice(("phone", "email", "sms", "visit")),
                            responsiveness=rng.choice(("répond vite", "répond dans la semaine", "difficile à joindre")),
                            birthday=date(rng.randrange(1958, 2000), rng.randrange(1, 13), rng.randrange(1, 29)),
                            family=rng.choice(
                                (None, "Marié(e), deux enfants", "Un fils au lycée", "Jeune parent", "Célibataire")
                            ),
                            hobbies=", ".join(rng.sample(HOBBIES, k=2)),
                            associations=rng.choice((None, *ASSOCIATIONS)),
                            consent_email=rng.random() < 0.8,
                            consent_sms=rng.random() < 0.4,
                            consent_phone=rng.random() < 0.9,
                            consent_post=rng.random() < 0.5,
                            is_primary=index == 0,
                        )
                    )
                )
            buys = stage in ("buyer", "client", "ambassador", "lost")
            order_count = 0 if not buys else rng.randrange(2, 6) if stage == "buyer" else rng.randrange(6, 30)
            last_day = today - timedelta(days=rng.randrange(200, 400)) if stage == "lost" else today - timedelta(days=1)
            favourites = rng.sample(products, k=6)
            for ordered_on in _weighted_months(rng, history_start, last_day, order_count):
                ordered_at = _paris(ordered_on, rng.randrange(8, 18), rng.randrange(0, 60))
                order = Order(
                    id=make_id(ordered_at),
                    account_id=account.id,
                    contact_id=contacts[0].id,
                    number=f"CMD-{ordered_on:%Y%m}-{rng.randrange(10000, 99999)}",
                    ordered_at=ordered_at,
                    channel=rng.choice(("visit", "phone", "web", "email")),
                    updated_at=ordered_at,
                )
                net = tax = 0
                for product in rng.sample(favourites, k=rng.randrange(1, 5)):
                    quantity = rng.randrange(1, 4) if product.list_price_amount > 20_000 else rng.randrange(2, 40)
                    discount = rng.choice((0, 0, 0, 500, 1000))
                    totals = line_totals(
                        quantity=quantity,
                        unit_price_amount=product.list_price_amount,
                        discount_bp=discount,
                        tax_rate_bp=tax_rates[product.tax_category],
                    )
                    out.add(
                        OrderLine(
                            id=make_id(ordered_at),
                            order_id=order.id,
                            account_id=account.id,
                            product_id=product.id,
                            description=product.name,
                            quantity=quantity,
                            unit_price_amount=product.list_price_amount,
                            discount_bp=discount,
                            tax_rate_bp=tax_rates[product.tax_category],
                            net_amount=totals.net_amount,
                            tax_amount=totals.tax_amount,
                            updated_at=ordered_at,
                        )
                    )
                    net, tax = net + totals.net_amount, tax + totals.tax_amount
                order.net_amount, order.tax_amount, order.gross_amount = net, tax, net + tax
                out.add(order)
                due = ordered_on + timedelta(days=account.payment_terms_days)
                age = (today - due).days
                paid = age > 15 and rng.random() < 0.97 or age > 0 and rng.random() < 0.55
                invoice = out.add(
                    Invoice(
                        id=make_id(ordered_at),
                        account_id=account.id,
                        order_id=order.id,
                        number=f"FA-{ordered_on:%Y}-{rng.randrange(100000, 999999)}",
                        issued_on=ordered_on,
                        due_on=due,
                        net_amount=net,
                        tax_amount=tax,
                        gross_amount=net + tax,
                        paid_amount=net + tax if paid else 0,
                        status="paid" if paid else "open",
                    )
                )
                if paid:
                    paid_on = min(today, due + timedelta(days=rng.randrange(-20, 25)))
                    out.add(
                        Payment(
                            id=make_id(_paris(paid_on, 12)),
                            account_id=account.id,
                            invoice_id=invoice.id,
                            paid_on=paid_on,
                            amount=net + tax,
                            method=rng.choice(("transfer", "transfer", "card", "cheque", "direct_debit")),
                        )
                    )
            for _ in range(rng.randrange(1, 6)):
                when = _paris(today - timedelta(days=rng.randrange(1, 365)), rng.randrange(8, 19))
                kind = rng.choice(("call", "email", "meeting", "note", "sms"))
                out.add(
                    Activity(
                        id=make_id(when),
                        account_id=account.id,
                        contact_id=rng.choice(contacts).id,
                        kind=kind,
                        direction=None if kind == "note" else rng.choice(("in", "out")),
                        occurred_at=when,
                        subject={
                            "call": "Appel de suivi",
                            "email": "Devis et disponibilités",
                            "meeting": "Rendez-vous sur place",
                            "note": "Note interne",
                            "sms": "Confirmation de livraison",
                        }[kind],
                        summary=rng.choice(
                            (
                                "Intéressé par le contrat de maintenance.",
                                "Demande un délai de paiement.",
                                "Satisfait de la dernière livraison.",
                                "Souhaite comparer avec son fournisseur actuel.",
                                "Prévoit de renouveler son four l'an prochain.",
                            )
                        ),
                        author_id=rep.id,
                    )
                )
            past_visit = _paris(today - timedelta(days=rng.randrange(7, 120)), 10)
            if stage != "suspect":
                visit = out.add(
                    Visit(
                        id=make_id(past_visit),
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        rep_id=rep.id,
                        starts_at=past_visit,
                        ends_at=past_visit + timedelta(hours=1),
                        purpose="Visite de suivi",
                        status="done",
                        checked_in_at=past_visit,
                        check_in_lat=account.billing_lat,
                        check_in_lon=account.billing_lon,
                        report_notes="Point sur les commandes et présentation des nouveautés.",
                        outcome=rng.choice(("positive", "neutral", "follow_up")),
                        next_steps=rng.choice(
                            (
                                "Envoyer un devis pour le lave-vaisselle.",
                                "Rappeler dans un mois.",
                                "Présenter le contrat de maintenance.",
                                "Organiser une démonstration du four.",
                            )
                        ),
                    )
                )
                out.add(
                    Activity(
                        id=make_id(past_visit),
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        kind="meeting",
                        occurred_at=past_visit,
                        subject="Visite de suivi",
                        summary=visit.report_notes,
                        visit_id=visit.id,
                        author_id=rep.id,
                    )
                )
            if rng.random() < 0.08:
                opened = _paris(today - timedelta(days=rng.randrange(1, 40)), 9)
                out.add(
                    Ticket(
                        id=make_id(opened),
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        kind=rng.choice(("complaint", "return", "after_sales")),
                        subject=rng.choice(
                            (
                                "Livraison incomplète",
                                "Four en panne après installation",
                                "Erreur de facturation",
                                "Produit abîmé à la livraison",
                            )
                        ),
                        description="Le client attend un retour rapide.",
                        status="open",
                        priority=rng.choice(("normal", "high")),
                        opened_at=opened,
                    )
                )
            elif rng.random() < 0.1:
                opened = _paris(today - timedelta(days=rng.randrange(60, 300)), 9)
                first_contact = rng.random() < 0.6
                out.add(
                    Ticket(
                        id=make_id(opened),
                        account_id=account.id,
                        kind="after_sales",
                        subject="Réglage de la machine à café",
                        status="resolved",
                        opened_at=opened,
                        resolved_at=opened + timedelta(hours=2 if first_contact else 72),
                        resolved_on_first_contact=first_contact,
                        satisfaction=rng.randrange(3, 6),
                    )
                )
            if stage in ("prospect", "lead", "buyer") or rng.random() < 0.15:
                created_opp = _paris(today - timedelta(days=rng.randrange(5, 200)), 11)
                won = rng.random() < 0.3
                out.add(
                    Opportunity(
                        id=make_id(created_opp),
                        account_id=account.id,
                        name=rng.choice(
                            ("Rééquipement cuisine", "Contrat consommables", "Nouveau four", "Contrat maintenance")
                        ),
                        stage="won" if won else rng.choice(("qualification", "proposal", "negotiation")),
                        amount=rng.randrange(50, 1500) * 10_000,
                        probability_pct=100 if won else rng.choice((20, 40, 60)),
                        expected_close=today + timedelta(days=rng.randrange(10, 120)),
                        created_at=created_opp,
                        closed_at=created_opp + timedelta(days=rng.randrange(10, 60)) if won else None,
                        competitor=competitor,
                    )
                )
            if rng.random() < 0.3:
                responded = _paris(today - timedelta(days=rng.randrange(170, 200)), 14)
                out.add(
                    CampaignResponse(
                        id=make_id(responded),
                        campaign_id=campaign.id,
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        responded_at=responded,
                        response=rng.choice(("opened", "clicked", "registered")),
                    )
                )
            if buys and rng.random() < 0.5:
                answered = _paris(today - timedelta(days=rng.randrange(90, 120)), 15)
                out.add(
                    SurveyResponse(
                        id=make_id(answered),
                        account_id=account.id,
                        contact_id=contacts[0].id,
                        campaign_id=survey.id,
                        kind="nps",
                        score=rng.choice((6, 7, 8, 8, 9, 9, 10, 10, 5, 3)),
                        answered_at=answered,
                    )
                )
            if competitor and account.competitor_contract_end:
                due_at = _paris(account.competitor_contract_end - timedelta(days=30), 9)
                out.add(
                    Reminder(
                        id=make_id(due_at),
                        account_id=account.id,
                        owner_id=rep.id,
                        due_at=due_at,
                        reason=f"Le contrat avec {competitor} se termine le {account.competitor_contract_end:%d/%m/%Y}",
                        rule="competitor_contract_end",
                    )
                )
        # This week's and next week's round: three visits a working day.
        rep_accounts = [row for row in out.rows[Account] if row["owner_id"] == rep.id]
        main_contact: dict[str, str] = {}
        for row in out.rows[Contact]:
            main_contact.setdefault(row["account_id"], row["id"])
        monday = today - timedelta(days=today.weekday())
        for day_offset in range(12):
            day = monday + timedelta(days=day_offset)
            if day.weekday() >= 5:
                continue
            for hour, minute in ((9, 0), (11, 0), (14, 30)):
                account_row = rng.choice(rep_accounts)
                starts = _paris(day, hour, minute)
                out.add(
                    Visit(
                        id=make_id(starts),
                        account_id=account_row["id"],
                        contact_id=main_contact.get(account_row["id"]),
                        rep_id=rep.id,
                        starts_at=starts,
                        ends_at=starts + timedelta(hours=1),
                        purpose=rng.choice(
                            (
                                "Présentation des nouveautés",
                                "Point commandes",
                                "Démonstration du four mixte",
                                "Suivi réclamation",
                                "Négociation du contrat annuel",
                            )
                        ),
                        status="done" if day < today else "planned",
                    )
                )

    summary.counts = out.flush(session, owners)
    session.commit()
    return summary
