package predict

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
)

// Example is one labelled sentence of the training corpus; Label indexes
// CorpusLabels.
type Example struct {
	Label int
	Text  string
}

// CorpusLabels are the categories of the generated corpus, in category order.
var CorpusLabels = []string{"sports", "business", "technology", "science"}

const (
	// CorpusSize is the number of sentences GenerateCorpus returns.
	CorpusSize = 4000
	// HeldOutEvery puts every HeldOutEvery-th example (index%HeldOutEvery ==
	// HeldOutEvery-1) in the held-out split. Coprime with the 4 interleaved
	// labels, so both splits stay balanced.
	HeldOutEvery = 5

	corpusSeed1, corpusSeed2 = 0xC1CADA, 2026
	// crossRate is how often a sentence borrows a clause from another
	// category, ambiguousRate how often it is built from a template that
	// mixes categories by design, and genericRate how often from a template
	// shared by all categories whose fillers overlap heavily: together they
	// keep held-out accuracy realistic (about 90%), not 100%.
	crossRate     = 0.30
	ambiguousRate = 0.12
	genericRate   = 0.22
	maxExpandDeep = 4
)

// rng draws from a PCG stream with explicit arithmetic rather than
// rand.Rand's methods, whose algorithms Go does not promise to keep; the PCG
// output itself is fixed, so the corpus is reproducible across releases.
type rng struct{ src *rand.PCG }

func (r rng) intn(n int) int {
	hi, _ := bits.Mul64(r.src.Uint64(), uint64(n))
	return int(hi)
}

func (r rng) chance(p float64) bool {
	return float64(r.src.Uint64()>>11)/(1<<53) < p
}

func (r rng) pick(xs []string) string { return xs[r.intn(len(xs))] }

// GenerateCorpus returns CorpusSize distinct labelled sentences, generated
// deterministically from a fixed seed; labels cycle 0,1,2,3 so every split by
// index is balanced.
func GenerateCorpus() []Example {
	r := rng{rand.NewPCG(corpusSeed1, corpusSeed2)}
	seen := make(map[string]bool, CorpusSize)
	out := make([]Example, 0, CorpusSize)
	// Bounded so that an over-small grammar cannot loop forever; a test
	// checks that the full size is reached.
	for attempts := 0; len(out) < CorpusSize && attempts < 100*CorpusSize; attempts++ {
		label := len(out) % len(CorpusLabels)
		text := sentence(r, label)
		if seen[text] {
			continue
		}
		seen[text] = true
		out = append(out, Example{Label: label, Text: text})
	}
	return out
}

// Split divides examples into a training and a held-out split by index (see
// HeldOutEvery).
func Split(examples []Example) (train, heldOut []Example) {
	for i, ex := range examples {
		if i%HeldOutEvery == HeldOutEvery-1 {
			heldOut = append(heldOut, ex)
		} else {
			train = append(train, ex)
		}
	}
	return train, heldOut
}

var sampleTexts = sync.OnceValue(func() []string {
	_, held := Split(GenerateCorpus())
	texts := make([]string, 0, 200)
	for _, ex := range held[:200] {
		texts = append(texts, ex.Text)
	}
	return texts
})

// SampleTexts returns 200 held-out sentences of the corpus (50 per category,
// interleaved), for load tests. The caller owns the returned slice.
func SampleTexts() []string {
	return append([]string(nil), sampleTexts()...)
}

// WriteCorpus writes examples as TSV lines "label\ttext\n".
func WriteCorpus(w io.Writer, examples []Example) error {
	bw := bufio.NewWriter(w)
	for i, ex := range examples {
		if ex.Label < 0 || ex.Label >= len(CorpusLabels) {
			return fmt.Errorf("write corpus: example %d: label %d out of range", i, ex.Label)
		}
		if strings.ContainsAny(ex.Text, "\t\r\n") {
			return fmt.Errorf("write corpus: example %d: text contains a tab or newline", i)
		}
		bw.WriteString(CorpusLabels[ex.Label])
		bw.WriteByte('\t')
		bw.WriteString(ex.Text)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write corpus: %w", err)
	}
	return nil
}

// ReadCorpus parses TSV lines "label\ttext" as written by WriteCorpus.
func ReadCorpus(r io.Reader) ([]Example, error) {
	index := make(map[string]int, len(CorpusLabels))
	for i, l := range CorpusLabels {
		index[l] = i
	}
	var out []Example
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		name, text, ok := strings.Cut(sc.Text(), "\t")
		label, known := index[name]
		if !ok || !known || text == "" {
			return nil, fmt.Errorf("read corpus: line %d: want \"label<TAB>text\" with a known label", line)
		}
		out = append(out, Example{Label: label, Text: text})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	return out, nil
}

// sentence generates one sentence of category label.
func sentence(r rng, label int) string {
	g := grammars[label]
	tmpl := g.templates
	switch {
	case r.chance(genericRate):
		tmpl = genericTemplates
	case r.chance(ambiguousRate):
		tmpl = g.ambiguous
	}
	s := expand(r, r.pick(tmpl), g, 0)
	if r.chance(crossRate) {
		other := grammars[(label+1+r.intn(len(grammars)-1))%len(grammars)]
		clause := expand(r, r.pick(other.clauses), other, 0)
		if r.chance(0.5) {
			s = clause + ", " + s
		} else {
			s = s + " " + clause
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// expand replaces every {slot} of t by a random choice from g's slots, or the
// common slots, recursively.
func expand(r rng, t string, g *grammar, depth int) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		name := t[i+1 : i+j]
		choices, ok := g.slots[name]
		if !ok {
			choices = commonSlots[name]
		}
		if len(choices) == 0 || depth >= maxExpandDeep {
			b.WriteString(name)
		} else {
			b.WriteString(expand(r, r.pick(choices), g, depth+1))
		}
		t = t[i+j+1:]
	}
}

type grammar struct {
	templates []string
	ambiguous []string // templates that mix in another category's vocabulary
	clauses   []string // short phrases lent to other categories' sentences
	slots     map[string][]string
}

var commonSlots = map[string][]string{
	"time": {"", "", "", "on Monday", "on Tuesday", "on Wednesday", "on Friday", "on Sunday", "this week",
		"last week", "yesterday", "earlier this month", "overnight", "last year", "this morning", "late on Thursday"},
	"city": {"London", "Madrid", "Chicago", "Tokyo", "Berlin", "Boston", "Lagos", "Sydney", "Toronto", "Milan",
		"Seoul", "Denver", "Lyon", "Austin", "Mumbai", "Oslo"},
	"num":   {"200", "1,500", "3,000", "40", "dozens of", "hundreds of", "12", "600"},
	"nat":   {"Brazilian", "French", "Japanese", "Nigerian", "Spanish", "Canadian", "Korean", "German"},
	"brand": {"Northwind", "Acme", "Globex", "Initech", "Umbrella", "Vandelay", "Hooli", "Contoso", "Aperture", "Tyrell", "Soylent", "Cyberdyne"},
	"pct":   {"3 percent", "12 percent", "0.5 percent", "two percent", "a fifth", "7.4 percent", "nearly half", "30 percent"},
	"money": {"$2 billion", "$450 million", "£300 million", "€1.2 billion", "$75 million", "$9 billion", "£40 million"},
	"said":  {"officials said", "according to reports", "a spokesperson said", "sources said", "the statement said"},
	"adj":   {"dramatic", "stunning", "surprising", "major", "long-awaited", "controversial", "remarkable", "modest"},
}

// genericTemplates are shared by every category; each category fills gorg
// and gthing from lists that overlap with the other categories' lists.
var genericTemplates = []string{
	"{gorg} announced {gthing} {time}",
	"{gorg} said {gthing} was a success",
	"{gorg} unveiled plans for {gthing}",
	"the results of {gthing} surprised {gorg}",
	"{gorg} is under pressure after {gthing}",
	"{gorg} hired new staff to work on {gthing}",
	"{gorg} delayed {gthing} until next year",
}

var grammars = []*grammar{
	{ // sports
		templates: []string{
			"{player} {scoreverb} in {event} {time}",
			"{team} {result} in {event}",
			"{coach} praised {player} after a {adj} win in {event}",
			"{player} was ruled out of {event} with {injury}",
			"fans celebrated as {team} {result} {time}",
			"{player} {scoreverb} as {team} {result}",
			"the referee sent off {player} during {event}",
			"{coach} said the squad is ready for {event}",
			"{team} moved top of the league after {player} {scoreverb}",
			"{team} will face {team} in {event} {time}",
			"{event} went to extra time before {player} {scoreverb}",
			"{player} returned from {injury} and {scoreverb}",
			"{coach} was sacked after {team} {result}",
			"{team} clinched the title when {player} {scoreverb}",
			"{player} {scoreverb} to keep {team} in the race for the playoffs",
		},
		ambiguous: []string{
			"{player} signed a {money} contract with {team}",
			"{team} agreed a record transfer deal for {player}",
			"{team} launched a new app for season ticket holders",
			"scientists tested the new ball used in {event}",
			"{team} reported record revenue from ticket sales this season",
			"{player} uses data analytics and a fitness tracker to prepare for {event}",
			"the stadium network crashed as fans streamed {event}",
		},
		clauses: []string{"after the match", "as fans cheered in the stadium", "days before the final",
			"while the team trained", "during the halftime break", "as the league season began", "after the derby"},
		slots: map[string][]string{
			"team": {"{city} United", "{city} Rovers", "the {city} Tigers", "{city} City", "the home side", "the visitors",
				"the defending champions", "the national team", "the under-21 squad", "{city} FC", "the {city} Hawks"},
			"player": {"the striker", "the goalkeeper", "the midfielder", "the captain", "the veteran forward",
				"the rookie quarterback", "the point guard", "the sprinter", "the tennis star", "the {nat} winger",
				"the young defender", "the pitcher", "the batsman", "the cyclist", "the substitute", "the {nat} champion"},
			"coach": {"the coach", "the manager", "the head coach", "the assistant coach", "the team's manager"},
			"event": {"the final", "the semi-final", "the derby", "the championship game", "the league opener",
				"the title decider", "the cup tie", "the grand slam", "the playoffs", "the Olympic trials",
				"the world cup qualifier", "the marathon", "the tournament", "the away game", "the second leg"},
			"scoreverb": {"scored twice", "scored a hat-trick", "netted the winner", "saved a penalty",
				"hit a late equaliser", "threw three touchdown passes", "won the sprint", "broke the course record",
				"served twelve aces", "made a stunning save", "hit a home run", "set a new personal best",
				"scored from a free kick", "won the match point", "grabbed an assist"},
			"result": {"beat {team} {score}", "drew {score} with {team}", "lost {score} to {team}", "edged past {team}",
				"thrashed {team} {score}", "came from behind to beat {team}", "won on penalties against {team}"},
			"score":  {"2-1", "3-0", "1-1", "4-2", "2-2", "1-0", "5-3", "98-91", "27-24", "6-4"},
			"gorg":   {"the club", "the league", "the federation", "the team", "the organisers", "the company", "the group"},
			"gthing": {"a new stadium", "the record", "the season", "the deal", "the new training ground", "the trial", "the launch of the new kit", "the results", "the test"},
			"injury": {"a hamstring injury", "a knee injury", "a sprained ankle", "a concussion", "a groin strain", "a broken wrist"},
		},
	},
	{ // business
		templates: []string{
			"{company} said {metric} {move} {time}",
			"{company} {deal}",
			"{exec} warned that {metric} could fall further",
			"shares in {company} {move} after it {deal}",
			"{market} {move} as investors weighed {metric}",
			"{exec} said {company} {deal}",
			"{company} reported {metric} of {money} for the quarter",
			"the central bank held interest rates steady amid concerns about {metric}",
			"{company} expects {metric} to grow next year despite weak demand",
			"{exec} approved a {money} takeover of {company}",
			"{market} closed higher after {company} {deal}",
			"{company} blamed supply chain problems for falling {metric}",
			"{metric} {move} in the third quarter, {said}",
			"{exec} at {company} cut the profit forecast for the year",
		},
		ambiguous: []string{
			"{company} agreed to buy the {city} football club for {money}",
			"{company} invested {money} in a new data center and cloud software",
			"shares of the chipmaker {move} after strong smartphone sales",
			"{company} sponsored the team shirt for the new season",
			"{company} funded a research lab to study renewable energy",
			"investors bet {money} on a startup building AI chips",
		},
		clauses: []string{"amid a market slump", "as shares rose", "despite rising costs", "after a record quarter",
			"as investors watched", "following a merger", "as the stock price fell", "amid fears of a recession"},
		slots: map[string][]string{
			"company": {"{brand} Corp", "{brand} Holdings", "the retailer", "the carmaker", "the airline", "the bank",
				"the oil giant", "the logistics group", "the insurer", "the supermarket chain", "the mining company",
				"the brewer", "{brand} Group", "the property developer", "the fashion label"},
			"exec": {"the chief executive", "the finance chief", "the board", "shareholders", "investors", "analysts",
				"the central bank governor", "the chairman", "regulators", "economists"},
			"metric": {"quarterly profit", "annual revenue", "net income", "operating margins", "earnings per share",
				"sales", "dividends", "costs", "market share", "debt", "its share price", "inflation", "interest rates",
				"unemployment", "exports", "consumer spending", "retail sales", "wages"},
			"move": {"rose {pct}", "fell {pct}", "jumped {pct}", "slumped {pct}", "climbed {pct}", "dropped {pct}",
				"edged up {pct}", "plunged {pct}"},
			"market": {"the stock market", "the bond market", "the Nasdaq", "the FTSE 100", "the Dow", "the housing market",
				"global markets", "the currency market", "oil prices", "the dollar", "the euro"},
			"gorg":   {"the company", "the firm", "the group", "the board", "the team", "the organisers", "the agency"},
			"gthing": {"a new headquarters", "the record", "the deal", "the launch", "the restructuring", "the results", "the season", "the model"},
			"deal": {"agreed to buy {company} for {money}", "announced a merger with {company}", "cut {num} jobs",
				"raised its dividend", "issued a profit warning", "filed for bankruptcy", "opened {num} new stores",
				"launched a share buyback", "missed earnings forecasts", "beat analysts' expectations",
				"raised {money} in a bond sale", "appointed a new chief executive", "sold its insurance unit for {money}"},
		},
	},
	{ // technology
		templates: []string{
			"{techco} {techverb} {product} with {feature}",
			"{techpeople} discovered {techproblem} in {product}",
			"{techco} fixed {techproblem} that affected millions of users",
			"{product} from {techco} offers {feature}",
			"{techpeople} complained about {techproblem} after the update",
			"{techco} {techverb} {product} {time}",
			"the new update brings {feature} to {product}",
			"{techco} said {techproblem} took its servers offline for hours",
			"{techpeople} can now download {product} from the app store",
			"{techco} is training a large language model in its data centers",
			"{techpeople} praised {product} for {feature}",
			"{techco} will stop supporting {product} next year",
			"{techco} {techverb} {product} for {techpeople}",
			"a {adj} update to {product} adds {feature}",
		},
		ambiguous: []string{
			"{techco} shares {move} after it {techverb} {product}",
			"{techco} won the rights to stream {event} live",
			"researchers used {product} to analyse experiment data",
			"{techco} cut {num} jobs as revenue fell",
			"{techco} launched a satellite to provide internet access",
			"the team of engineers built a robot that plays football",
		},
		clauses: []string{"using new software", "in a livestreamed event", "as users flooded the app",
			"after a server outage", "on its website", "in a blog post for developers", "after the software update"},
		slots: map[string][]string{
			"techco": {"{brand} Labs", "the chipmaker", "the software company", "the smartphone maker", "the startup",
				"the cloud provider", "the social network", "the search giant", "the app developer",
				"the cybersecurity firm", "the streaming service", "{brand} Software", "the video game studio"},
			"product": {"a new smartphone", "its latest laptop", "a faster processor", "an open source database",
				"a cloud gaming service", "a voice assistant", "a smartwatch", "a browser update",
				"a programming language", "a password manager", "a virtual reality headset", "a new operating system",
				"an AI chatbot", "a graphics card", "a wireless router", "a tablet", "its messaging app", "a web browser"},
			"gorg":   {"the company", "the startup", "the team", "the lab", "the firm", "the group"},
			"gthing": {"the launch", "a new platform", "the network upgrade", "the model", "the test", "the results", "the record", "the deal"},
			"techverb": {"unveiled", "released", "shipped", "announced", "launched", "rolled out", "previewed",
				"open sourced", "patched", "discontinued", "demoed"},
			"feature": {"longer battery life", "end-to-end encryption", "faster downloads", "a redesigned interface",
				"support for 5G networks", "better camera software", "lower latency", "an offline mode",
				"two-factor authentication", "improved search results", "more storage", "a dark mode", "faster charging"},
			"techproblem": {"a security flaw", "a data breach", "an outage", "a software bug", "a ransomware attack",
				"a crash", "a vulnerability in the kernel", "a memory leak", "a login glitch"},
			"techpeople": {"engineers", "developers", "hackers", "users", "security researchers",
				"the open source community", "programmers", "gamers", "app makers"},
			"event": {"the final", "the world cup", "the tournament", "the playoffs"},
			"move":  {"rose {pct}", "fell {pct}", "jumped {pct}", "slumped {pct}"},
		},
	},
	{ // science
		templates: []string{
			"{sciwho} {institution} {discovery}",
			"{sciwho} {discovery} using {sciinst}",
			"a study published {journal} shows how {topic} affects {topic}",
			"{sciwho} used {sciinst} to study {topic}",
			"new data from {sciinst} shed light on {topic}",
			"{sciwho} reported {journal} that they {discovery}",
			"the experiment suggests {topic} began earlier than thought",
			"{sciwho} warned that {topic} is accelerating",
			"{sciwho} {discovery} {time}",
			"a clinical trial found the new drug slowed {disease}",
			"{sciwho} deployed {sciinst} to monitor {topic}",
			"{sciwho} {institution} published a new theory of {topic}",
			"measurements from {sciinst} confirm predictions about {topic}",
			"{sciwho} say {organism} may help explain {topic}",
		},
		ambiguous: []string{
			"{sciwho} used machine learning software to {discoverybare}",
			"a {money} grant will fund research into {topic}",
			"{sciwho} studied the brains of football players who had {injury}",
			"{sciwho} tested a new battery that could power smartphones for weeks",
			"the space agency launched a rocket carrying {sciinst}",
			"{sciwho} measured how fast sprinters run and why",
		},
		clauses: []string{"according to a new study", "as researchers predicted", "in a laboratory test",
			"using data from satellites", "in an experiment", "as the theory predicted", "in a peer-reviewed paper"},
		slots: map[string][]string{
			"gorg":   {"the lab", "the institute", "the university", "the team", "the agency", "the group"},
			"gthing": {"the trial", "the model", "the launch", "the experiment", "the results", "the record", "the test", "the network"},
			"sciwho": {"researchers", "scientists", "astronomers", "biologists", "physicists", "chemists",
				"a team of geologists", "climate scientists", "neuroscientists", "ecologists", "marine biologists",
				"geneticists", "palaeontologists"},
			"institution": {"at the university", "at a national laboratory", "from {city} University",
				"at the observatory", "at the research institute", "in {city}"},
			"discovery": {"{discoverybare}"},
			"discoverybare": {"discovered a new species of frog", "detected gravitational waves", "observed a distant galaxy",
				"measured the mass of the neutrino", "sequenced the genome of {organism}", "found evidence of water on Mars",
				"identified a protein linked to {disease}", "mapped the ocean floor", "dated the oldest known fossil",
				"synthesised a new element", "observed quantum entanglement", "tracked the migration of {organism}",
				"found microplastics in {organism}", "identified a gene that controls ageing", "imaged a black hole"},
			"organism": {"the honeybee", "a deep sea squid", "the woolly mammoth", "a rare orchid", "the African elephant",
				"soil bacteria", "coral reefs", "a parasitic wasp", "migrating whales", "ancient plankton"},
			"disease": {"Alzheimer's disease", "malaria", "certain cancers", "diabetes", "antibiotic resistance", "tuberculosis"},
			"sciinst": {"the James Webb telescope", "a particle accelerator", "an electron microscope", "a research vessel",
				"a Mars rover", "a climate model", "satellite images", "fossil records", "a weather balloon", "ice cores",
				"a radio telescope", "seismic sensors"},
			"journal": {"in the journal Nature", "in a peer-reviewed study", "in the journal Science", "in a new paper"},
			"topic": {"climate change", "the early universe", "evolution", "ocean acidification", "black holes",
				"dark matter", "photosynthesis", "plate tectonics", "the immune system", "volcanic eruptions",
				"the origin of life", "sea level rise", "bird migration", "genetic mutations"},
			"injury": {"concussions", "repeated head injuries"},
		},
	},
}
