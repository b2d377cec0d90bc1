/*
 * storyfix.h - five distinct news articles, each as scraped from a
 * different outlet's page (its header, menus, share and comment widgets,
 * related headlines around the text), and the chrome of those outlets to
 * wrap copies in. Two of them report the same event in their own words:
 * they are different articles, never duplicates of each other.
 */
#ifndef AS_STORYFIX_H
#define AS_STORYFIX_H

#include <stddef.h>
#include <stdio.h>

#define AS_FIX_N 5

typedef struct as_fix_article {
    const char *source;
    const char *title;
    const char *paras[8];    /* the article's own paragraphs, NULL-ended */
    const char *header;      /* the outlet's chrome before the text */
    const char *footer;      /* and after it */
} as_fix_article_t;

static const as_fix_article_t as_fix[AS_FIX_N] = {
    {
        "Coastal Ledger",
        "Harbor Authority Approves Expansion of Northern Container Terminal",
        {
            "PORT ALDER \xe2\x80\x94 The Port Alder Harbor Authority on "
            "Tuesday approved a long-debated expansion of the northern "
            "container terminal, clearing the way for construction to begin "
            "next spring.",
            "The plan adds two deep-water berths and about 40 acres of "
            "storage yard, and it is expected to raise the terminal's yearly "
            "capacity by roughly a third, according to figures the authority "
            "released before the vote.",
            "Board chair Miriam Oduya said the expansion was needed to keep "
            "shipping lines from moving their business to larger ports down "
            "the coast. \xe2\x80\x9cWe either grow with the trade or we "
            "watch it sail past us,\xe2\x80\x9d she told the meeting.",
            "Residents of the Eastbank neighborhood, which borders the "
            "terminal, urged the board to delay the vote until a study of "
            "truck traffic and night noise is finished. Several speakers "
            "said the existing yard already keeps them awake.",
            "The authority promised to fund sound walls along the rail spur "
            "and to limit crane work after midnight during the first year "
            "of operation, a concession that was added to the plan late on "
            "Monday.",
            "The project is estimated to cost $310 million, most of it paid "
            "with revenue bonds that will be repaid from terminal fees.",
            NULL,
        },
        "Coastal Ledger\nHome | Local | Business | Opinion | Weather\n"
        "Independent news for the northern coast since 1921\n\n",
        "\nShare this article\nShareable URL\nPrev Post\n\nRead Next: Ferry "
        "Fares Rise for the Third Time in Two Years\n\nLeave a Reply\n\nYour "
        "email address will not be published. Required fields are marked "
        "*\n",
    },
    {
        "Valley Courier",
        "Drought Forces Water Restrictions Across Three Provinces",
        {
            "Officials in three provinces ordered new limits on household "
            "water use on Friday after the driest summer in more than four "
            "decades left reservoirs at less than a quarter of their "
            "capacity.",
            "Under the rules, lawn watering is banned outright, car washes "
            "must recycle their water and public fountains will be switched "
            "off until at least the end of October.",
            "Farmers will face cuts of up to 30 percent in their irrigation "
            "allowances, a step growers' associations warned would hit "
            "fruit and vegetable harvests hard this autumn.",
            "\xe2\x80\x9cNobody wanted to reach this point, but the rivers "
            "simply are not delivering,\xe2\x80\x9d said Tomasz Brelik, who "
            "heads the regional water board.",
            "Meteorologists say a change in the weather is not expected "
            "before November, and even a wet winter would take years to "
            "refill the largest reservoirs.",
            NULL,
        },
        "Menu\nSearch\nValley Courier\nSubscribe\n\n",
        "\nSubscribe\nNotify of\nguest\n0 Comments\nInline Feedbacks\nView "
        "all comments\n\nSubscribe to our mailing list and get interesting "
        "stuff and updates to your email inbox.\n",
    },
    {
        "Market Pulse Daily",
        "Central Bank Holds Rates Steady, Signals Caution on Inflation",
        {
            "The central bank left its benchmark interest rate unchanged at "
            "4.5 percent on Wednesday, saying that inflation had eased but "
            "remained too high for policymakers to consider cuts.",
            "Governor Helena Varga told reporters that price growth in "
            "services was proving stubborn and that the bank would need "
            "\xe2\x80\x9cseveral more months of good news\xe2\x80\x9d before "
            "changing course.",
            "Consumer prices rose 3.1 percent in the year to August, down "
            "from a peak of more than 9 percent last year, but still above "
            "the bank's target of 2 percent.",
            "Two of the nine members of the rate committee voted for a "
            "quarter-point cut, arguing that the economy was weakening "
            "faster than the bank's own forecasts had assumed.",
            "Bond markets rallied after the decision as traders bet that "
            "the first cut would come early next year.",
            NULL,
        },
        "Stock Markets\nDaily Stock Markets News\n\n",
        "\nMarket News and Data brought to you by our partners\nComments\n"
        "Loading...\nPosted In: NewsEconomyTop Stories\nMarket Pulse Daily "
        "simplifies the market for smarter investing\n\nTrade confidently "
        "with insights and alerts from analyst ratings, free reports and "
        "breaking news that affects the stocks you care about.\n\nJoin Now: "
        "Free!\n",
    },
    {
        "TechWire Now",
        "Harbor Expansion Wins Approval Despite Neighbors' Noise Worries",
        {
            "The Port Alder Harbor Authority voted 6 to 1 on Tuesday to "
            "enlarge the city's northern container terminal, a project that "
            "board chair Miriam Oduya says will bring hundreds of jobs and "
            "that neighbors say will bring round the clock noise.",
            "Eastbank resident Joel Marchetti, who has lived two blocks from "
            "the rail spur for twenty years, said he was disappointed but "
            "not surprised by the result of the vote.",
            "\xe2\x80\x9cThey listened politely and then did exactly what "
            "they planned to do all along,\xe2\x80\x9d Marchetti said after "
            "the meeting ended.",
            "Oduya said that automation at the new berths would cut the "
            "number of trucks idling outside the gates, which neighbors had "
            "named as their main complaint.",
            "Construction of the first berth is expected to take two years, "
            "with the second following once shipping volumes justify it.",
            NULL,
        },
        "TechWire Now\nYour Trusted Source for Up-to-date News from Around "
        "the World!\n\n",
        "\nImage and article originally from www.techwirenow.example. Read "
        "the original article here.\n\nRead Also: Five Gadgets That Make "
        "Working From Home Easier\n",
    },
    {
        "Metro Gazette",
        "City Council Votes to Extend Night Bus Service",
        {
            "The city council voted on Thursday to run night buses on six "
            "more routes from January, answering years of complaints from "
            "shift workers who have no way home after the last train.",
            "The expansion will cost about $4 million a year and will be "
            "paid for by a small increase in downtown parking charges, "
            "which several council members had opposed.",
            "Transport committee chair Ana Lindqvist said the new routes "
            "were chosen after a survey of hospital, hotel and warehouse "
            "staff who finish work between midnight and five in the morning.",
            "Buses will run every 30 minutes on the busiest corridors and "
            "every hour elsewhere, and the service will be reviewed after "
            "its first twelve months.",
            "The transit workers' union welcomed the decision but asked the "
            "city to hire enough drivers so that existing daytime routes "
            "are not cut to staff the new ones.",
            NULL,
        },
        "Metro Gazette\nWednesday edition\nNews | Sports | Arts | "
        "Obituaries\n\n",
        "\nMore from Metro Gazette\nRead more: Library Hours to Expand at "
        "Four Branches\n\nMetro Gazette brings readers the stories that "
        "matter, with alerts and analysis you can trust every single day.\n",
    },
};

/* The room as_fix_page needs: every fixture page fits with some to spare. */
#define AS_FIX_PAGE_CAP 16384

/*
 * Writes into out (AS_FIX_PAGE_CAP bytes) the page of fixture article i in
 * the chrome of outlet `site`. A copy (copy != 0) is what syndication
 * makes of it: a new headline, its third paragraph dropped, a "Read also"
 * line and a note of the copying site's own added.
 */
static inline void as_fix_page(int i, int site, int copy, char *out)
{
    const as_fix_article_t *a = &as_fix[i], *s = &as_fix[site];
    size_t cap = AS_FIX_PAGE_CAP, len = 0, p;

    len += (size_t)snprintf(out + len, cap - len, "%s%s%s\n\n", s->header,
                            copy ? "UPDATE: " : "", a->title);
    for (p = 0; a->paras[p] != NULL; p++) {
        if (copy && p == 2)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s\n\n", a->paras[p]);
        if (copy && p == 1)
            len += (size_t)snprintf(out + len, cap - len, "Read also: %s\n\n",
                                    as_fix[(i + 2) % AS_FIX_N].title);
    }
    if (copy)
        len += (size_t)snprintf(out + len, cap - len, "This story was "
                                "provided by a news agency and was not "
                                "edited by the staff of %s.\n\n", s->source);
    snprintf(out + len, cap - len, "%s", s->footer);
}

#endif
