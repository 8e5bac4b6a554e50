"""The demo's material, written by hand: customer-support requests with candidate replies.

`synthloop demo` runs the whole loop offline, with no model, so everything a model would have
made is here instead: 85 seed requests across seven intents, each with a reply an agent might
send (eight of them deliberately poor, so reviewers have something to correct), the intents and
reply ratings a careful person would give (the gold the simulated annotators answer from), the
dataset settings, and the inputs of offline generation: slot templates per intent, augmentation
specs and hand-written edge cases. Everything is deterministic.

    rows = seed_rows() + generated_rows()
    dataset.add(rows)
    truth = truths(rows)        # {external id: Truth(intent, quality, better)}
    sim = SimulatedAnnotators.from_gold_labels(gold_intents(rows), extra=reviewer(rows))
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthloop.generate.offline import augment, expand
from synthloop.records import Record
from synthloop.settings import Settings

__all__ = [
    "AUGMENTATIONS",
    "EDGE_CASES",
    "INTENTS",
    "SEEDS",
    "SETTINGS",
    "TEMPLATES",
    "Seed",
    "Truth",
    "augmented_rows",
    "edge_case_rows",
    "generated_rows",
    "gold_intents",
    "reviewer",
    "seed_rows",
    "settings",
    "template_rows",
    "truths",
    "write_gold_csv",
]

INTENTS = (
    "refund",
    "delivery",
    "account_access",
    "billing",
    "cancellation",
    "product_question",
    "complaint",
)

SETTINGS = """\
guidelines: |
  Read the customer's request and the candidate reply.
  1. intent: what the customer mainly wants. When a message asks for several things, pick the
     one they need solved first; a complaint is about how we behaved, not a plain request.
  2. quality: rate the reply. 5 = correct, complete and kind; 3 = usable with small fixes;
     1 = wrong, rude or unrelated.
  3. correction: when the reply is not good enough to send, edit it into one that is.
fields:
  - {name: request, type: text, title: Customer request}
  - {name: reply, type: text, title: Candidate reply}
questions:
  - name: intent
    type: label
    labels: [refund, delivery, account_access, billing, cancellation, product_question, complaint]
  - {name: quality, type: rating, values: [1, 2, 3, 4, 5], required: false}
  - {name: correction, type: text, prefill: reply, required: false}
distribution: {overlap: 2, agreement_threshold: 0.6}
"""


def settings(overlap: int = 2) -> Settings:
    """The demo dataset's settings, with `overlap` answers per record."""
    parsed = Settings.loads(SETTINGS, "demo settings")
    distribution = parsed.distribution.model_copy(update={"overlap": overlap})
    return parsed.model_copy(update={"distribution": distribution})


@dataclass(frozen=True)
class Seed:
    """A hand-written request, its candidate reply, and the truth: intent, the reply's rating,
    and for a poor reply the one an agent should have sent."""

    id: str
    intent: str
    request: str
    reply: str
    quality: int = 5
    better: str | None = None


@dataclass(frozen=True)
class Truth:
    """What a careful annotator answers for a record."""

    intent: str
    quality: int
    better: str | None = None


# ---------------------------------------------------------------- seeds

_GOOD: dict[str, list[tuple[str, str]]] = {
    "refund": [
        (
            "I returned the blue jacket two weeks ago and still have no refund.",
            "Sorry for the wait. Your return arrived on Monday and the refund was issued today; "
            "it takes 3-5 business days to reach your card.",
        ),
        (
            "Can I get my money back for a pair of shoes that don't fit?",
            "Of course. Unworn shoes can be returned within 30 days. Start the return from "
            "Orders > Return item and we refund you as soon as they arrive.",
        ),
        (
            "The blender arrived broken. I want a refund, not a replacement.",
            "I'm sorry it arrived damaged. I've issued a full refund to your original payment "
            "method; there is no need to send the blender back.",
        ),
        (
            "You charged me for an item that was out of stock. Please refund it.",
            "You're right, that item could not be shipped. The charge has been refunded and "
            "should show on your statement within 5 days.",
        ),
        (
            "How long does a refund take to reach PayPal?",
            "Refunds to PayPal usually arrive within 24 hours of us processing the return.",
        ),
        (
            "I cancelled my order within an hour but was still charged. Refund please.",
            "The order was cancelled before shipping, so the charge is being reversed. Your "
            "bank may show it as pending for a couple of days.",
        ),
        (
            "My refund was for the wrong amount, I paid 84 euros and got 64 back.",
            "Thanks for spotting that. The 20 euro shipping fee should have been refunded too; "
            "I've sent the difference to your card.",
        ),
        (
            "Can I have a refund as store credit instead of to my card?",
            "Yes. I've converted your refund to store credit; it is already in your account "
            "and never expires.",
        ),
        (
            "I got a gift I don't want. Can the refund go to me instead of the buyer?",
            "Gift returns are refunded as store credit to you, so the buyer is not notified. "
            "Use the gift receipt code when you start the return.",
        ),
        (
            "The courier lost my return parcel. Do I still get my refund?",
            "Yes. I can see the courier confirmed the loss, so I've refunded you in full. "
            "You don't need to do anything else.",
        ),
        (
            "Where is the refund for order 55120? It says processed a week ago.",
            "Order 55120 was refunded on the 3rd with reference RF-55120. If it is not on your "
            "statement, your bank can trace it with that reference.",
        ),
    ],
    "delivery": [
        (
            "My parcel was supposed to arrive yesterday. Where is it?",
            "Sorry about the delay. The tracking shows it reached your local depot this morning "
            "and it is out for delivery today.",
        ),
        (
            "Can you deliver to my office instead of my home?",
            "Yes, as long as it has not shipped yet. Go to Orders > Change address and enter "
            "your office address before 6 pm.",
        ),
        (
            "The tracking number you sent doesn't work.",
            "Apologies, the courier only activates the number once they scan the parcel. It "
            "should work within 24 hours of dispatch.",
        ),
        (
            "Do you ship to Norway?",
            "We do. Delivery to Norway takes 4-6 business days; customs fees are shown at "
            "checkout so there are no surprises.",
        ),
        (
            "The driver left my package with a neighbour I don't know.",
            "I'm sorry. The driver noted house number 12 as the safe place. If you can't "
            "collect it today, tell me and I'll open a search with the courier.",
        ),
        (
            "Only half of my order arrived.",
            "Your order shipped in two parcels; the second one is on its way and should arrive "
            "tomorrow. Both tracking links are in your order page.",
        ),
        (
            "How much is express delivery?",
            "Express delivery is 7.90 and arrives next working day when you order before 2 pm.",
        ),
        (
            "My order says delivered but I never received it.",
            "I'm sorry. Please check with neighbours and your building's mailroom; if it is "
            "not there in 24 hours, reply here and we'll resend it at no cost.",
        ),
        (
            "Can I pick my order up from a locker?",
            "Yes. Choose 'Parcel locker' at checkout and pick the locker nearest you; you get a "
            "code by text when it arrives.",
        ),
        (
            "Will my order arrive before Christmas if I order today?",
            "If you order standard delivery by December 18 it arrives before Christmas; express "
            "orders placed by the 22nd do too.",
        ),
        (
            "The box arrived crushed but the item seems fine. Should I worry?",
            "Thanks for letting us know. If anything turns out damaged later, you can still "
            "return it for free within 30 days.",
        ),
    ],
    "account_access": [
        (
            "I forgot my password and the reset email never comes.",
            "Sorry about that. The reset email can land in spam; I've sent a new one just now. "
            "The link works for one hour.",
        ),
        (
            "My account is locked after too many login attempts.",
            "For your security the account locks for 30 minutes after five failed attempts. "
            "I've unlocked it now; please reset your password if you're unsure of it.",
        ),
        (
            "I no longer have the phone for two-factor codes.",
            "You can sign in with one of your backup codes. If you don't have them, I'll verify "
            "your identity by email and then remove the old phone.",
        ),
        (
            "How do I change the email address on my account?",
            "Go to Settings > Account > Email, enter the new address and confirm the link we "
            "send to it. Your orders stay as they are.",
        ),
        (
            "Someone else logged into my account, I got an alert from another country.",
            "I've signed out every session and blocked new logins until you set a new "
            "password. Please also check your saved addresses and cards.",
        ),
        (
            "The app keeps logging me out every few minutes.",
            "That happens with an old app version. Please update the app from your store; if it "
            "continues, clearing the app's data fixes it.",
        ),
        (
            "I can't log in with Google anymore.",
            "Your account was created with email and password, so Google sign-in isn't linked. "
            "Sign in with your email once and link Google under Settings.",
        ),
        (
            "How do I delete my account?",
            "You can delete it under Settings > Privacy > Delete account. Orders in progress "
            "must be finished first; deletion is permanent after 14 days.",
        ),
        (
            "I made two accounts by mistake, can you merge them?",
            "Yes. Tell me which email you want to keep and I'll move the order history of the "
            "other account to it.",
        ),
        (
            "I never received the verification code by SMS.",
            "Codes can take a minute. If it doesn't come, tap 'Call me instead' and the code is "
            "read to you.",
        ),
        (
            "The login page says my email is not registered, but I have ordered before.",
            "You may have ordered as a guest. Create an account with the same email and your "
            "past orders appear in it automatically.",
        ),
    ],
    "billing": [
        (
            "I was charged twice for the same order.",
            "I'm sorry. The second charge is an authorisation hold that your bank releases "
            "within 5 days; you are only billed once.",
        ),
        (
            "Can I get an invoice with my company's VAT number?",
            "Yes. Add your VAT number under Settings > Billing and download the invoice from "
            "the order page; it updates right away.",
        ),
        (
            "Why is there a 4.99 charge on my card from you?",
            "That is your monthly Plus membership, which started after the free trial. You can "
            "manage or end it under Settings > Membership.",
        ),
        (
            "How do I update my credit card details?",
            "Go to Settings > Payment methods, add the new card and set it as default. The old "
            "card can then be removed.",
        ),
        (
            "My payment was declined but my bank says the card is fine.",
            "Declines often come from the 3-D Secure check. Please try again and approve the "
            "payment in your banking app when asked.",
        ),
        (
            "Can I pay in instalments?",
            "Yes, for orders over 100 euros you can choose 'Pay in 3' at checkout, with no "
            "interest or fees.",
        ),
        (
            "The price dropped the day after I bought it. Can I get the difference?",
            "Yes, we match our own price within 14 days. I've refunded the 15 euro difference "
            "to your card.",
        ),
        (
            "Your invoice shows the wrong billing address.",
            "I've corrected the address and issued a new invoice; you'll find it on the order "
            "page.",
        ),
        (
            "Why was I charged in dollars instead of euros?",
            "You ordered from our US site, which bills in dollars. Switch the country at the "
            "bottom of the page to pay in euros next time.",
        ),
        (
            "I used a discount code but it wasn't applied.",
            "I can see the code was valid. I've refunded the 10% discount to your card; it "
            "will show in a few days.",
        ),
        (
            "Do you accept Apple Pay?",
            "Yes, Apple Pay is available on the app and in Safari at checkout.",
        ),
    ],
    "cancellation": [
        (
            "I want to cancel my order, I ordered the wrong size.",
            "No problem. Your order hasn't shipped yet, so I've cancelled it and the payment "
            "will be released within a few days.",
        ),
        (
            "How do I cancel my Plus membership?",
            "Go to Settings > Membership > Cancel. You keep the benefits until the end of the "
            "period you've paid for.",
        ),
        (
            "Please cancel my subscription box before the next delivery.",
            "Done. Your subscription is cancelled and no further boxes will be sent or charged.",
        ),
        (
            "Can I cancel just one item from my order?",
            "Yes, while the order is being prepared. Open the order, tap the item and choose "
            "'Cancel item'; the rest ships as planned.",
        ),
        (
            "I cancelled but the order still shipped.",
            "Sorry, it left the warehouse before the cancellation went through. Refuse the "
            "delivery or return it for free and we'll refund you in full.",
        ),
        (
            "Is there a fee to cancel my order?",
            "No, cancelling is free until the order ships.",
        ),
        (
            "Cancel my order 88213 please, I found it cheaper elsewhere.",
            "Order 88213 is cancelled. If you'd like, we also match lower prices from major "
            "shops; just send us the link.",
        ),
        (
            "How do I stop the automatic renewal of my warranty plan?",
            "Turn off 'Renew automatically' under Settings > Warranty plans. The current plan "
            "stays active until it ends.",
        ),
        (
            "I want to cancel my pre-order.",
            "Your pre-order is cancelled. Since you hadn't been charged yet, there is nothing "
            "to refund.",
        ),
        (
            "Can I cancel an order I placed as a guest?",
            "Yes. Use the link in your confirmation email, or tell me the order number and "
            "email address and I'll cancel it for you.",
        ),
        (
            "Stop my monthly coffee delivery, I'm moving abroad.",
            "I've cancelled your coffee plan. Good luck with the move, and thanks for being a "
            "customer!",
        ),
    ],
    "product_question": [
        (
            "Is this laptop bag waterproof?",
            "It is water-resistant: it keeps light rain out, but it should not be submerged.",
        ),
        (
            "Does the phone case fit the newer model too?",
            "No, the newer model's camera sits differently. Please choose the case listed for "
            "that model.",
        ),
        (
            "What are the dimensions of the oak desk?",
            "The oak desk is 140 cm wide, 70 cm deep and 75 cm high.",
        ),
        (
            "Is the sweater machine washable?",
            "Yes, at 30 degrees on a wool cycle. Dry it flat to keep its shape.",
        ),
        (
            "Do the headphones work with Android phones?",
            "Yes, they connect over Bluetooth to any Android or iOS device, and the app is "
            "available for both.",
        ),
        (
            "When will the green kettle be back in stock?",
            "We expect it back in about two weeks. Tap 'Notify me' on the product page and we'll "
            "email you the moment it is.",
        ),
        (
            "Does the coffee machine come with a warranty?",
            "Yes, a two-year warranty covering defects; you can extend it to five years at "
            "checkout.",
        ),
        (
            "Is the running shoe true to size?",
            "Most customers find it true to size; if you're between sizes, go half a size up.",
        ),
        (
            "What material is the sofa cover made of?",
            "The cover is 100% cotton and removable, so you can wash it at 40 degrees.",
        ),
        (
            "Does the camera include a memory card?",
            "No, the memory card is sold separately. Any SDXC card of class 10 or faster works.",
        ),
        (
            "Is the toy suitable for a three year old?",
            "It is designed for ages 3 and up and has no small parts.",
        ),
    ],
    "complaint": [
        (
            "Your agent hung up on me yesterday. That's unacceptable.",
            "I'm truly sorry, that is not how we want you treated. I've shared this with the "
            "team lead, and I'm here to help with your question now.",
        ),
        (
            "This is the third time my order is late. I'm fed up with your service.",
            "I understand your frustration, and I'm sorry we let you down again. I've added "
            "free express delivery to your next three orders.",
        ),
        (
            "The quality of your products has really gone down.",
            "Thank you for telling us. I've passed your feedback to our quality team; if "
            "anything you bought disappointed you, I can arrange a return.",
        ),
        (
            "Nobody answered my emails for two weeks.",
            "I'm sorry for the silence; we had a backlog, which is no excuse. I'm handling your "
            "case personally from now on.",
        ),
        (
            "The delivery driver was rude to my elderly mother.",
            "I'm very sorry to hear that. I've reported it to the courier with the delivery "
            "details so they can act on it.",
        ),
        (
            "Your website is a nightmare to use on mobile.",
            "Sorry it's been frustrating. Could you tell me which page gave you trouble? I'll "
            "pass it straight to our web team.",
        ),
        (
            "I was promised a call back and never got one.",
            "I apologise for that. I've booked a call for tomorrow at 10 am; if that doesn't "
            "suit you, tell me a better time.",
        ),
        (
            "The item looks nothing like the photos on your site.",
            "I'm sorry it disappointed you. You can return it for free, and I've flagged the "
            "photos to our product team.",
        ),
        (
            "Your chatbot is useless, I want to speak to a human.",
            "You're speaking with a person now, and I'm sorry the bot didn't help. What can I "
            "do for you?",
        ),
        (
            "I'm disgusted that you sell products tested on animals.",
            "Thank you for raising this. I've shared your concern with our buying team; our "
            "cruelty-free range is marked with a leaf icon.",
        ),
        (
            "The store staff ignored me for twenty minutes.",
            "I'm sorry you were kept waiting. I've passed this on to the store manager so it "
            "doesn't happen again.",
        ),
    ],
}

# One poor reply per intent, plus one more complaint: what a reviewer should fix.
_POOR: dict[str, list[tuple[str, str, int, str]]] = {
    "refund": [
        (
            "I sent back the headphones a month ago and I'm still waiting for my money.",
            "Please read our returns policy on the website.",
            1,
            "I'm sorry for the wait. Your return arrived on the 2nd and I've just issued the "
            "refund; it reaches your card within 3-5 business days.",
        ),
    ],
    "delivery": [
        (
            "Why is my parcel stuck in customs for ten days?",
            "Delivery times may vary.",
            2,
            "Sorry about this. Customs is holding it for an import check; I've asked the courier "
            "to chase it and will update you within two days.",
        ),
    ],
    "account_access": [
        (
            "I can't sign in, it says my password is wrong but I just reset it.",
            "Have you tried turning it off and on again?",
            1,
            "Sorry for the trouble. A reset only works from the latest email; I've sent a fresh "
            "link, and your account is unlocked so you can use it right away.",
        ),
    ],
    "billing": [
        (
            "There's a charge of 29.99 on my card I don't recognise.",
            "We do not make mistakes with billing.",
            1,
            "Let me check that for you. The 29.99 is your annual Plus renewal; if you didn't "
            "mean to renew, I can cancel it and refund the charge.",
        ),
    ],
    "cancellation": [
        (
            "Please cancel my order, it's taking too long.",
            "Your order will arrive soon. Thanks for shopping with us!",
            2,
            "I've cancelled your order as asked and the payment will be released within a few "
            "days. Sorry it took so long.",
        ),
    ],
    "product_question": [
        (
            "Can the blender crush ice?",
            "Yes it can do anything, it is the best blender in the world.",
            2,
            "Yes, it has an ice-crush setting. Use it with a little water and no more than "
            "200 g of ice at a time.",
        ),
    ],
    "complaint": [
        (
            "I waited on hold for an hour and then got disconnected.",
            "Our lines are busy. Please call again later.",
            1,
            "I'm sorry, an hour on hold and then a dropped call is not acceptable. Tell me what "
            "you were calling about and I'll sort it out here.",
        ),
        (
            "Your staff lied to me about the return policy.",
            "No they didn't.",
            1,
            "I'm sorry you were given wrong information. Our policy allows returns within 30 "
            "days; I'll honour what you were told and log the mistake with the team.",
        ),
    ],
}


def _build_seeds() -> tuple[Seed, ...]:
    seeds: list[Seed] = []
    for intent in INTENTS:
        cases: list[tuple[str, str, int, str | None]] = [
            (req, rep, 5 - i % 2, None) for i, (req, rep) in enumerate(_GOOD[intent])
        ]
        cases += _POOR[intent]
        # Poor replies among the good ones, not all at the end.
        cases.insert(3, cases.pop(len(_GOOD[intent])))
        for request, reply, quality, better in cases:
            n = len(seeds) + 1
            seeds.append(Seed(f"seed-{n:03d}", intent, request, reply, quality, better))
    return tuple(seeds)


SEEDS = _build_seeds()


def seed_rows() -> list[dict[str, Any]]:
    """The seed set as rows for `Dataset.add`: written by people, so `source: human`."""
    return [_seed_row(s, "seed") for s in SEEDS]


def _seed_row(seed: Seed, kind: str) -> dict[str, Any]:
    return {
        "id": seed.id,
        "fields": {"request": seed.request, "reply": seed.reply},
        "metadata": {"set": kind},
        "provenance": {"source": "human", "generator": "hand-written"},
    }


# ---------------------------------------------------------------- offline generation

# Per intent: {field: template}, its slots, and for a template whose reply is poor on purpose,
# the reply it should have been (same slots), with the rating the poor one deserves.
TEMPLATES: dict[str, dict[str, Any]] = {
    "refund": {
        "template": {
            "request": "I {action} the {item} {when} and I'm still waiting for my refund.",
            "reply": "Sorry for the wait. The refund for the {item} is on its way and should "
            "reach your card within 5 business days.",
        },
        "slots": {
            "action": ["returned", "sent back", "posted back"],
            "item": ["toaster", "rain jacket", "desk lamp", "phone charger", "yoga mat"],
            "when": ["last week", "ten days ago", "on Monday", "a month ago"],
        },
    },
    "delivery": {
        "template": {
            "request": "My {item} order {problem}. Can you check where it is?",
            "reply": "Thanks for waiting. Your {item} is with the courier and should arrive "
            "within two working days; the tracking link is on your order page.",
        },
        "slots": {
            "item": ["sofa", "printer", "book", "coffee grinder", "winter coat"],
            "problem": ["hasn't arrived", "is late", "shows no tracking updates", "is overdue"],
        },
    },
    "account_access": {
        "template": {
            "request": "I can't {action} my account {context}.",
            "reply": "Sorry about that. I've sent a secure sign-in link to your email; it "
            "lets you in and set a new password.",
        },
        "slots": {
            "action": ["log into", "access", "sign into", "open"],
            "context": ["on the app", "since yesterday", "on my new phone", "from the website"],
        },
    },
    "billing": {
        "template": {
            "request": "Why was I charged {amount} {when}?",
            "reply": "Billing errors are rare. Check your bank.",
        },
        "better": "Let me look into the {amount} charge. It is the order you placed {when}; "
        "if it's not yours, I'll refund it and secure your account.",
        "quality": 2,
        "slots": {
            "amount": ["12.50", "49.99", "a second time", "89 euros", "twice"],
            "when": ["last Tuesday", "this morning", "yesterday", "after I cancelled"],
        },
    },
    "cancellation": {
        "template": {
            "request": "Please cancel my {thing}, {reason}.",
            "reply": "Done: your {thing} is cancelled, and you won't be charged again.",
        },
        "slots": {
            "thing": ["order", "subscription", "membership", "pre-order"],
            "reason": ["I changed my mind", "I don't need it anymore", "it's too expensive"],
        },
    },
    "product_question": {
        "template": {
            "request": "Does the {product} {feature}?",
            "reply": "Good question! The product page for the {product} lists this under "
            "Specifications, and I'm happy to check anything else for you.",
        },
        "slots": {
            "product": ["air fryer", "office chair", "smart watch", "tent", "backpack"],
            "feature": ["come with a warranty", "work outside the EU", "need assembly"],
        },
    },
    "complaint": {
        "template": {
            "request": "I'm really unhappy: {issue}. {demand}",
            "reply": "I'm sorry about this experience. I've logged your complaint and a team "
            "lead will follow up with you within one working day.",
        },
        "slots": {
            "issue": [
                "your agent was rude to me",
                "nobody replies to my emails",
                "I was kept on hold for 40 minutes",
                "the store staff ignored me",
            ],
            "demand": ["I want an apology.", "Fix this.", "This has to change."],
        },
    },
}
_TEMPLATE_PREFIX = "demo-"

# Rule-based variants of the requests (the reply is kept): noise a real inbox has.
AUGMENTATIONS: tuple[dict[str, Any], ...] = (
    {"name": "typos", "steps": [{"name": "typos", "rate": 0.04}]},
    {"name": "lowercase", "steps": [{"name": "casing", "mode": "lower"}, "punctuation"]},
    {"name": "pii", "steps": [{"name": "pii", "types": ["email", "phone"], "count": 1}]},
    {"name": "injection", "steps": ["injection"]},
)

# Requests that are hard on purpose: several intents at once, another language, sarcasm, a
# bare order number, shouting. Each with the intent a careful person picks and a fair reply.
EDGE_CASES: tuple[Seed, ...] = (
    Seed(
        "edge-01",
        "refund",
        "The package came late AND broken, I want my money back.",
        "I'm sorry on both counts. I've refunded you in full; no need to return the item.",
        5,
    ),
    Seed(
        "edge-02",
        "delivery",
        "¿Dónde está mi pedido? Lo compré hace dos semanas.",
        "Lo siento por la espera. Tu pedido está en reparto y llegará mañana.",
        5,
    ),
    Seed(
        "edge-03",
        "complaint",
        "Great, another 'delivered' parcel that isn't here. Love it.",
        "Thanks for your feedback!",
        1,
        "I'm sorry, that's frustrating. I've opened a search with the courier and will "
        "resend the parcel if it isn't found within 24 hours.",
    ),
    Seed(
        "edge-04",
        "delivery",
        "order 77120",
        "Order 77120 is out for delivery today. Is there anything else you need?",
        4,
    ),
    Seed(
        "edge-05",
        "cancellation",
        "CANCEL IT. CANCEL EVERYTHING. NOW.",
        "I've cancelled your open order and your subscription. You won't be charged again.",
        4,
    ),
    Seed(
        "edge-06",
        "billing",
        "I was charged after I cancelled, refund the charge and close my account.",
        "The charge came after your cancellation, so I've refunded it. Would you like me to "
        "close the account as well?",
        5,
    ),
    Seed(
        "edge-07",
        "account_access",
        "hi i cant get in my acount pls help",
        "Sorry! I've sent you a sign-in link by email so you can get back in.",
        5,
    ),
    Seed(
        "edge-08",
        "product_question",
        "Is the kettle safe? My friend's one exploded.",
        "Our kettles all have boil-dry protection and are safety certified.",
        4,
    ),
)


def template_rows(n_per_intent: int = 6, seed: int = 0) -> list[dict[str, Any]]:
    """`n_per_intent` requests with replies per intent, sampled from TEMPLATES."""
    rows: list[dict[str, Any]] = []
    for intent, spec in TEMPLATES.items():
        name = _TEMPLATE_PREFIX + intent
        made = expand(
            spec["template"], spec["slots"], mode="sampled", n=n_per_intent, seed=seed, name=name
        )
        rows += [{**row, "metadata": {"set": "template"}} for row in made]
    return rows


def augmented_rows(parents: Sequence[Mapping[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Every AUGMENTATIONS spec applied to its share of `parents` (rows), on the request."""
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(AUGMENTATIONS):
        share = list(parents[i :: len(AUGMENTATIONS)])
        made = augment(share, "request", spec["steps"], seed=seed)
        rows += [
            {**row, "metadata": {"set": "augmented", "augmentation": spec["name"]}} for row in made
        ]
    return rows


def edge_case_rows() -> list[dict[str, Any]]:
    """The hand-written edge cases, as synthetic rows (they stand in for a model's)."""
    provenance = {"source": "synthetic", "generator": "edge-cases"}
    return [_seed_row(s, "edge") | {"provenance": provenance} for s in EDGE_CASES]


def generated_rows(
    seed: int = 0, n_per_intent: int = 6, augment_every: int = 3
) -> list[dict[str, Any]]:
    """What offline generation adds to the seeds: template requests, augmented variants of
    every `augment_every`-th seed and template request, and the edge cases."""
    templated = template_rows(n_per_intent, seed)
    parents = [*seed_rows(), *templated][::augment_every]
    return [*templated, *augmented_rows(parents, seed), *edge_case_rows()]


# ---------------------------------------------------------------- truth


def truths(rows: Sequence[Mapping[str, Any]]) -> dict[str, Truth]:
    """What a careful annotator answers for each row (seed, edge case, template or augmented
    row of this module), by id. Augmented rows inherit their parent's truth."""
    known: dict[str, Truth] = {
        s.id: Truth(s.intent, s.quality, s.better) for s in (*SEEDS, *EDGE_CASES)
    }
    for row in rows:
        prov = row.get("provenance", {})
        template = str(prov.get("template", ""))
        if prov.get("generator") == "template" and template.startswith(_TEMPLATE_PREFIX):
            known[row["id"]] = _template_truth(template.removeprefix(_TEMPLATE_PREFIX), prov)
    for row in rows:
        parent = row.get("provenance", {}).get("parent")
        if row.get("provenance", {}).get("generator") == "augment" and parent in known:
            known[row["id"]] = known[parent]
    ids = {row["id"] for row in rows}
    return {k: v for k, v in known.items() if k in ids}


def _template_truth(intent: str, provenance: Mapping[str, Any]) -> Truth:
    spec = TEMPLATES[intent]
    if "better" not in spec:
        return Truth(intent, 4)
    better = spec["better"].format(**provenance.get("slots", {}))
    return Truth(intent, int(spec["quality"]), better)


def gold_intents(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{id: intent}: the gold the simulated annotators answer from."""
    return {k: t.intent for k, t in truths(rows).items()}


def reviewer(rows: Sequence[Mapping[str, Any]]) -> Callable[[Record, str], dict[str, Any]]:
    """Answers for the questions besides the intent, as `SimulatedAnnotators(extra=...)` takes
    them: the true rating of the reply, and for a poor reply (rated 2 or less) its correction."""
    known = truths(rows)

    def answer(record: Record, worker: str) -> dict[str, Any]:
        truth = known.get(str(record.external_id))
        if truth is None:
            return {}
        out: dict[str, Any] = {"quality": truth.quality}
        if truth.better is not None and truth.quality <= 2:
            out["correction"] = truth.better
        return out

    return answer


def write_gold_csv(path: str | Path, gold: Mapping[str, str]) -> Path:
    """Write {id: label} as the `item,gold` CSV that `--simulate-gold` reads."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "gold"])
        writer.writerows(sorted(gold.items()))
    return path
