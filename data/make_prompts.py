"""Make the prompt-only splits: data/pref.jsonl, data/rl.jsonl and data/eval.jsonl.

How the prompts are made
------------------------
Every prompt comes from a hand-written *template*: a task name, a few phrasings
with slots {a} (and {b}), and fillers written for that template, separated by ";"
(a pair such as "tea | coffee" fills {a} and {b}). The phrasing "Explain how {a} works." and the filler
"a refrigerator" give "Explain how a refrigerator works.".

The input-based tasks (rewrite, summarise, classify) work the same way, but each
filler is a topic plus an original short text, which goes into "input". Their
phrasings name the topic ("Summarise this passage about jet lag in one sentence."),
so that every instruction string is unique. All fillers and texts were written for
this course; nothing is copied from an existing dataset.

Then the script
  1. combines every phrasing of a template with every one of its fillers;
  2. drops every filler that gives an instruction also found in data/sft.jsonl,
     with all its phrasings: no
     instruction is shared with the SFT data, and no close rewording of one either;
  3. keeps at most CAP prompts per task, so that no task dominates;
  4. splits each task into eval / rl / pref. All phrasings of one filler (or of one
     input text) land in the same split, so eval prompts are not rewordings of
     training prompts;
  5. shuffles each split and cuts it to its size (SIZES).
All randomness comes from random.Random(0): re-running gives the same files.

Each output line is {"task", "instruction", "input", "output"}. "output" is always ""
(these prompts have no demonstration); "input" is "" unless the task needs a text.

Run:  python data/make_prompts.py
"""
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parent
SIZES = {"pref": 2400, "rl": 650, "eval": 300}
CAP = 300  # at most this many prompts per task
TEMPLATES = []  # (task, phrasings, fillers)


def template(task, phrasings, items):
    TEMPLATES.append((task, phrasings, items))


def fillers(block):
    """Fillers separated by ';' (or new lines); fields split on ' | ' fill {a} and {b}."""
    items = [x.strip() for x in block.replace("\n", ";").split(";") if x.strip()]
    return [dict(zip("ab", (field.strip() for field in x.split(" | ")))) for x in items]


def texts(block):
    """One 'topic | text' per line: the topic fills {a}, the text becomes the input."""
    return [{"a": topic.strip(), "text": text.strip()}
            for topic, text in (line.split(" | ") for line in block.strip().splitlines())]


def passages(block):
    """Passages separated by blank lines; the first line of each is its topic."""
    items = []
    for chunk in block.strip().split("\n\n"):
        topic, *body = chunk.strip().splitlines()
        items.append({"a": topic.strip(), "text": " ".join(line.strip() for line in body)})
    return items


# ---------------------------------------------------------------- explain
template("explain", [
    "Explain how {a} works.",
    "Explain in simple terms how {a} works.",
    "Explain to a ten-year-old how {a} works.",
    "In three or four sentences, explain how {a} works.",
    "How does {a} work? Keep the explanation short.",
], fillers("""
a refrigerator; a credit score; compound interest; a vaccine; a microwave oven;
a solar panel; a thermostat; a search engine; a heat pump; a hybrid car;
a workplace pension; a mortgage; an electric kettle; a magnetic compass;
satellite navigation; a wind turbine; the human kidney; the immune system;
a password manager; a barcode scanner; a touchscreen; a fire extinguisher; a smoke alarm;
a hot-air balloon; a pressure cooker; a dishwasher; public-key encryption; Wi-Fi;
the gear system on a bicycle; a lightning rod; a water filter; a hydroelectric dam;
a stock exchange; car insurance; a sundial; a seatbelt; a food chain; a compost heap;
an escalator; a printing press; a 3D printer; noise cancellation in headphones;
a lift in a tall building; a sewing machine; a camera lens
"""))

template("explain", [
    "Explain what happens when {a}.",
    "What happens when {a}? Explain step by step.",
    "Explain in simple terms what happens when {a}.",
    "Briefly explain what happens when {a}.",
], fillers("""
you sneeze; water boils; a volcano erupts; you get sunburnt; milk goes sour;
the Moon passes between the Earth and the Sun; a central bank raises interest rates;
you pay only the minimum on a credit card; a computer runs out of memory;
you press send on an email; iron rusts; you lift weights regularly; a plane takes off;
a seed germinates; you drink too little water; bread dough rises; you catch a cold;
a company goes bankrupt; a river floods; you type a web address into a browser;
a star runs out of fuel; you hold your breath; fallen leaves rot on the forest floor;
an earthquake strikes; a bill becomes law; you cross the International Date Line;
a glacier melts; sugar is heated in a pan; a country prints a lot of extra money;
you learn a new skill
"""))

# ---------------------------------------------------------------- define
template("define", [
    "What does the term '{a}' mean?",
    "Define '{a}' as the term is used in {b}.",
    "In {b}, what does '{a}' mean? Answer in simple words.",
    "Give a one-sentence definition of '{a}', then use it in an example sentence.",
    "Explain the term '{a}' to someone who is new to {b}.",
], fillers("""
inflation | economics; photosynthesis | biology; bandwidth | computing;
metabolism | biology; opportunity cost | economics;
carbon footprint | environmental science; biodiversity | ecology;
interest rate | personal finance; algorithm | computer science; cache | computing;
firewall | computer security; phishing | online safety; protein | nutrition;
calorie | nutrition; immunity | medicine; placebo | medicine;
gross domestic product | economics; budget deficit | government finance;
diversification | investing; dividend | investing; net worth | personal finance;
jet lag | travel; layover | air travel; visa | international travel; sauté | cooking;
emulsion | cooking; braising | cooking; umami | food science; offside | football;
personal best | athletics; hat-trick | sport; aerobic exercise | fitness;
performance review | the workplace; networking | business; burnout | the workplace;
active recall | studying; plagiarism | academic writing;
thesis statement | essay writing; peer review | science; hypothesis | science;
renewable energy | environmental science; greenhouse effect | climate science;
erosion | geography; delta | geography; latitude | geography; monsoon | geography;
Renaissance | history; feudalism | history; propaganda | history; democracy | politics;
perspective | painting; sonnet | poetry; crescendo | music; tempo | music;
still life | art; protagonist | literature; metaphor | literature; satire | literature;
friction | physics; catalyst | chemistry; evaporation | science;
cloud storage | computing; operating system | computing;
open-source software | computing
"""))

# ---------------------------------------------------------------- list
template("list", [
    "List five {a}.",
    "Name three {a}.",
    "Give a short bulleted list of {a}.",
    "Give four {a}, with a few words about each.",
], fillers("""
common kitchen herbs; renewable energy sources; planets in our solar system;
symptoms of dehydration; healthy breakfast foods; ways to reduce household energy use;
popular programming languages; major rivers in Africa;
inventions of the nineteenth century; signs of a phishing email;
vegetables that grow well in containers; exercises you can do without equipment;
skills employers often look for; famous sights in Paris; endangered animal species;
musical instruments in an orchestra; countries in South America;
good sources of vitamin C; causes of soil erosion;
things to check before a long car journey; items for a basic first-aid kit;
benefits of regular walking; mammals that live in the ocean; types of clouds;
good habits for studying; ways to stay safe online; causes of the First World War;
famous Renaissance painters; ways to reuse glass jars; common types of rock;
sports played at the Summer Olympics; main parts of a computer;
questions to ask at the end of a job interview; foods high in fibre;
signs of burnout at work; ways to save water at home; famous mountain ranges;
common causes of back pain; uses for baking soda around the house;
things to do on a rainy day in a city; board games for families; ancient civilisations;
parts of a flower; common spices in Indian cooking; traditional Italian dishes;
habits that improve sleep; steps in the scientific method;
elements that are gases at room temperature; ways to make a small room look bigger;
keyboard shortcuts that save time; reasons people learn a second language;
famous bridges around the world; ways to reduce food waste; large deserts of the world;
art movements of the twentieth century; genres of music;
things to pack for a beach holiday; healthy snacks for children;
ways to cut down on sugar; common mistakes in job applications;
jobs that did not exist fifty years ago; animals that hibernate;
ways to make a commute more enjoyable; famous explorers; materials that can be recycled;
signs that a plant needs more water; famous women scientists;
fruits that grow in tropical countries; wonders of the ancient world;
useful phrases for travellers; capital cities in Europe;
things to consider when choosing a laptop; water sports;
things that make a good neighbour; ways to start the morning well
"""))

# ---------------------------------------------------------------- advise
template("advise", [
    "Give three tips for {a}.",
    "What are some practical tips for {a}?",
    "Give a beginner five pieces of advice on {a}.",
    "Share your best advice for {a}.",
    "I want some help with {a}. Where should I start?",
], fillers("""
saving money on groceries; learning a new language; sleeping better;
staying focused while studying; training for a first 5K race;
cooking healthy meals on a budget; preparing for a job interview;
travelling with only hand luggage; keeping houseplants alive;
managing stress during exams; starting a vegetable garden; writing a clear email;
paying off credit card debt; reducing screen time; making friends in a new city;
hiking safely in the mountains; giving a good presentation; drinking more water;
learning to play the guitar; saving for a first home; avoiding jet lag;
working from home productively; reading more books; keeping heating bills low in winter;
choosing strong passwords; taking better photos with a phone; memorising vocabulary;
writing a CV; eating more vegetables; sticking to an exercise routine;
packing a suitcase efficiently; reducing plastic waste at home; negotiating a salary;
running effective meetings; teaching a child to ride a bike; keeping a journal;
choosing a used car; planning a holiday on a budget;
staying motivated on an online course; avoiding eye strain from screens;
making a long flight more comfortable; revising for a maths exam
"""))

template("advise", [
    "{a} What should I do?",
    "{a} Can you give me some advice?",
    "{a} What are two or three things I could try?",
], fillers("""
My houseplants keep dying.; I feel tired every afternoon at work.;
My neighbour plays loud music late at night.; I spend too much money on takeaway food.;
I keep forgetting people's names.; My laptop has become very slow.;
I get nervous before speaking in meetings.; I have three exams in the same week.;
My flight was cancelled and I am stuck at the airport.;
My homemade bread never rises properly.;
I want to run a marathon next year, but I have never run before.;
My teenage son spends every evening on his phone.;
I have been offered two jobs and cannot decide between them.;
My knees hurt after running.; I find it hard to wake up early.;
My team keeps missing deadlines.; I moved to a new town and feel lonely.;
My savings are in an account that pays almost no interest.;
I think I received a scam text message.;
The leaves on my tomato plants are turning yellow.; I keep putting off writing my essay.;
My flatmate never does the washing-up.;
I want to eat less meat, but I don't know where to start.;
I am travelling abroad for the first time next month.; My phone storage is always full.;
I get headaches when I work at my computer.;
I have a job interview tomorrow and feel unprepared.;
My dog barks whenever someone walks past the house.;
I want to learn to draw, but I'm not sure I have any talent.;
My electricity bill has doubled this winter.; I forgot my best friend's birthday.
"""))

# ---------------------------------------------------------------- compare
template("compare", [
    "Compare {a} and {b}.",
    "What is the difference between {a} and {b}?",
    "How are {a} and {b} similar, and how do they differ?",
    "Write a short comparison of {a} and {b}.",
], fillers("""
tea | coffee; walking | cycling; renting a home | buying a home; a laptop | a tablet;
train travel | air travel; weather | climate; viruses | bacteria;
a debit card | a credit card; stocks | bonds; butter | olive oil;
aerobic exercise | strength training; football | rugby; tennis | badminton;
working from home | working in an office; email | instant messaging;
a CV | a cover letter; reading on paper | reading on a screen; solar power | wind power;
recycling | composting; ancient Rome | ancient Greece; the Arctic | the Antarctic;
a river | a canal; a city | a town; watercolour | oil paint; a novel | a short story;
jazz | classical music; RAM | hard-disk storage; a web browser | a search engine;
a computer virus | a computer worm; a mortgage | a personal loan; saving | investing;
a budget airline | a full-service airline; a hostel | a hotel; a backpack | a suitcase;
boiling vegetables | steaming vegetables; white rice | brown rice;
a food processor | a blender; running on a treadmill | running outdoors;
swimming | running; a manager | a leader; full-time work | part-time work;
studying alone | studying in a group; flashcards | practice tests;
online courses | classroom courses; a hurricane | a tornado; an atom | a molecule;
speed | velocity; mass | weight; herbivores | carnivores; a democracy | a monarchy;
the Middle Ages | the Renaissance; the First World War | the Second World War;
a glacier | an iceberg; a desert | a rainforest; latitude | longitude;
a museum | an art gallery; acting on stage | acting in films; poetry | prose;
electric cars | petrol cars; taking a shower | taking a bath; paper bags | plastic bags;
taking the bus | driving a car; a smartphone | a basic mobile phone;
cloud storage | an external hard drive; Python | JavaScript;
a password | two-factor authentication; a sprain | a broken bone; a cold | the flu;
vitamins | minerals; yoga | pilates; a sprint | a marathon;
keeping a cat | keeping a dog; baking | frying; a lake | a sea; sculpture | painting
"""))

# ---------------------------------------------------------------- how-to
template("how-to", [
    "How do I {a}?",
    "Give step-by-step instructions to {a}.",
    "What is the easiest way to {a}?",
    "Write a short guide on how to {a}.",
], fillers("""
change a flat bicycle tyre; boil an egg; make a simple monthly budget;
create a strong password; back up the files on a computer;
remove a coffee stain from a shirt; plant a tree; make a good cup of tea;
write a formal complaint letter; read a nutrition label; check a car's tyre pressure;
make a paper aeroplane; start a compost heap; clean a cast-iron pan; tie a tie;
take a screenshot on a computer; cook pasta; make pancakes; bake a loaf of bread;
sew on a button; unblock a kitchen sink; wrap a present neatly; make a fruit smoothie;
do a push-up correctly; warm up before a run; measure your resting heart rate;
write a good thesis statement; take notes in a lecture; cite a source in an essay;
make a to-do list that works; prepare for a video call;
write a polite out-of-office reply; organise files into folders;
clear the cache in a web browser; spot a fake website; set up a home Wi-Fi network;
clean a laptop keyboard; make a simple vegetable soup; chop an onion; store fresh herbs;
cook rice on the hob; make a basic salad dressing; sharpen a kitchen knife; iron a shirt;
hang a picture straight; wash a wool jumper; use a map and compass; pitch a tent;
find cheap train tickets; learn the rules of chess; draw a simple portrait;
tune a guitar; start knitting; write a haiku; repot a houseplant;
attract birds to a garden; measure rainfall at home;
find the North Star in the night sky; treat a minor burn; clean and cover a small cut;
calm down before an exam; fall asleep faster; sit with good posture at a desk;
make a family tree; start a savings habit; jump-start a car; fold a fitted sheet;
plan a week of meals; descale a kettle; poach an egg; write a thank-you note;
check whether an egg is fresh; make a simple bird feeder; change a light bulb safely;
create a study timetable; save a document as a PDF
"""))

# ---------------------------------------------------------------- brainstorm
template("brainstorm", [
    "Brainstorm five ideas for {a}.",
    "Suggest some creative ideas for {a}.",
    "Give me three fresh ideas for {a}.",
    "I need ideas for {a}. What could I try?",
], fillers("""
a birthday party on a small budget; a school science fair project;
a healthy packed lunch; a rainy-day activity with young children;
a team-building activity at work; a short story set in the future;
a fundraising event for a local charity; a weekend trip close to home;
a vegetarian dinner party; reducing waste in an office; a family game night;
a cooking blog; using up leftover rice; a gift for a grandparent;
keeping fit without a gym; making a small garden friendlier to wildlife;
a history lesson that students will enjoy; decorating a small flat cheaply;
a podcast about local history; celebrating a colleague's retirement;
a community clean-up day; a mobile app that helps students; a photography project;
learning vocabulary in a fun way; making a long train journey enjoyable; a themed picnic;
a class trip; a new flavour of ice cream; a first painting for a beginner;
an art project using recycled materials; encouraging people to cycle to work;
a school assembly about kindness; saving energy at school; a poem about the sea;
a video for a small bakery; a summer reading challenge; breakfast on a camping trip;
a neighbourhood book swap; a school garden; cheering up a friend who is feeling low;
teaching fractions in a fun way; a weekend project with old T-shirts;
a short film about friendship
"""))

template("brainstorm", [
    "Suggest five names for {a}.",
    "Come up with three possible names for {a}.",
    "Brainstorm a catchy name for {a} and explain your choice.",
    "What would be a good name for {a}? Give a few options.",
], fillers("""
a new coffee shop; a pet goldfish; a school recycling club; a vegan bakery;
a hiking group; a podcast about money; a children's bookshop; a window-cleaning business;
a chess club; a study-planner app; a travel blog; a board game about space;
a food truck selling tacos; a local football team; a community choir;
a second-hand clothes shop; a yoga studio; a local history society;
a bicycle repair shop; a science newsletter for children; a cat café; a community garden;
a new puppy; a small sailing boat; a kingdom in a fantasy story;
a robot character in a children's book; a brand of sparkling water; a recipe website;
a mobile game about farming; a photography exhibition; a charity fun run; a jazz band
"""))

# ---------------------------------------------------------------- pros and cons
template("pros-and-cons", [
    "What are the pros and cons of {a}?",
    "List the advantages and disadvantages of {a}.",
    "Give two benefits and two drawbacks of {a}.",
    "Is {a} a good idea? Weigh up the pros and cons.",
], fillers("""
working from home; buying a used car; owning an electric car; studying abroad;
renting instead of buying a home; shopping online; learning to code; taking a gap year;
using a credit card; cooking at home every day; living in a big city;
living in the countryside; joining a gym; following a vegetarian diet;
using social media; reading e-books; paying with cash; investing in index funds;
taking out a student loan; working a four-day week; working as a freelancer;
having a second job; travelling alone; going on a cruise;
taking the train instead of flying; booking a holiday at the last minute;
buying refurbished electronics; using open-source software; learning from online videos;
homeschooling; wearing a school uniform; giving students homework every night;
studying late at night; installing solar panels on a house; banning single-use plastics;
building more wind farms; growing your own vegetables; living in a tiny house;
buying food in bulk; using a smartwatch; learning a musical instrument as an adult;
running a marathon; skipping breakfast; napping during the day; using a standing desk;
hosting the Olympic Games; mass tourism in historic cities; visiting museums virtually;
making art digitally; learning history from films; working in an open-plan office;
offering unlimited holiday to employees; changing jobs every two years;
using self-driving cars; having a smart speaker at home; going paperless at work;
using self-checkout machines; generating electricity from nuclear power;
changing the clocks for daylight saving time; banking online;
paying for several streaming subscriptions; buying fast fashion;
renting out a spare room; retiring early; sharing a flat with friends;
adopting a rescue dog; keeping chickens in the garden;
driving instead of cycling to work; buying an extended warranty;
learning two languages at once; having a joint bank account; eating only seasonal food;
commuting by electric scooter; taking exams online; moving abroad for work
"""))

# ---------------------------------------------------------------- describe
template("describe", [
    "Describe {a}.",
    "Write a short, vivid description of {a}.",
    "Describe {a} using the five senses.",
    "In one paragraph, describe {a}.",
], fillers("""
a busy market on a Saturday morning; a beach at sunset; a quiet library;
a forest after rain; a city street during rush hour; a mountain village in winter;
a school playground at break time; a family kitchen before a big celebration;
a train station late at night; a farm in early spring; a thunderstorm;
a football stadium on match day; a desert at midday; a coral reef;
a night sky far from any city; an old bookshop; a hospital waiting room;
a music festival; a crowded airport; a snowy park; a bakery early in the morning;
a fishing harbour; a rainforest at dawn; a walk in the woods in autumn;
a small café on a rainy afternoon; a school science laboratory; a medieval castle;
a marketplace in ancient Rome; a vegetable garden in summer;
a swimming pool on a hot day; an office on a Monday morning; a lighthouse during a storm;
a river in the early morning; a campsite at night; a busy restaurant kitchen
"""))

template("describe", [
    "Describe the main features of {a}.",
    "What are the key characteristics of {a}?",
    "Briefly describe {a}.",
    "Describe {a} for someone who knows nothing about it.",
], fillers("""
the Sahara Desert; the Amazon rainforest; a Gothic cathedral; a good CV; a healthy diet;
the Great Barrier Reef; the pyramids of Giza; the Great Wall of China; a Japanese garden;
Impressionist painting; Baroque music; the Mediterranean diet; a well-designed website;
a strong password; a good team leader; an electric bicycle; the River Nile; the Alps;
Antarctica; the city of Venice; a traditional English breakfast;
a Victorian terraced house; a Roman road; the Silk Road;
the Industrial Revolution in Britain; the life cycle of a butterfly; the water cycle;
the human heart; a savanna; a volcano; a honeybee colony; a good study timetable;
a well-run meeting; an energy-efficient house; a haiku; a symphony orchestra;
a Shakespeare comedy; street art; the Chinese New Year festival; a game of cricket;
a tropical rainforest; a Viking longship; a sonnet; a healthy sleep routine; the Moon
"""))

# ---------------------------------------------------------------- short-answer (why)
template("short-answer", [
    "Why {a}?",
    "Why {a}? Answer in one or two sentences.",
    "Why {a}? Explain it simply.",
    "Why {a}? Give the main reason.",
], fillers("""
is the sky blue; do leaves change colour in autumn; do we need sleep;
do prices tend to rise over time; does bread go stale; do we get goosebumps;
does ice float on water; do cats purr; is the sea salty; do onions make people cry;
do we have seasons; do some people get seasick; do planes leave white trails in the sky;
does metal feel colder than wood; do we yawn; does exercise improve mood;
do banks pay interest on savings; do exchange rates change;
do computers need software updates; do phone batteries wear out over time;
do websites use cookies; do airlines overbook flights; does jet lag happen;
do muscles feel sore after exercise; does a moving bicycle stay upright;
does popcorn pop; do apples turn brown after they are cut; do birds migrate;
do earthquakes happen; is the Dead Sea so salty; did the Titanic sink;
did people build castles in the Middle Ages; was the printing press so important;
do deserts get cold at night; do rivers bend; is the Amazon rainforest important;
are coral reefs in danger; is sugar bad for teeth; do we need vitamin D;
does the Moon seem to change shape; do we dream; do we get hiccups; do stars twinkle;
do old photographs turn yellow; do musicians practise scales;
do some countries drive on the left; do people get nervous before exams;
do companies spend so much on advertising; do we have time zones;
do hot-air balloons rise; does the Earth have a magnetic field;
do volcanoes form near the edges of tectonic plates;
do some trees lose their leaves in winter; is regular exercise good for the heart;
do we blush
"""))

template("short-answer", [
    "Why is it important to {a}?",
    "Give two reasons why people should {a}.",
    "Explain briefly why it is a good idea to {a}.",
], fillers("""
wash hands before cooking; back up computer files; stretch after exercise;
read a contract before signing it; wear sunscreen; get enough sleep before an exam;
keep an emergency fund; install software updates;
check the weather forecast before a hike; drink water on a hot day;
recycle old batteries properly; eat a variety of vegetables; protect wetlands;
learn about history; keep receipts for large purchases; take regular breaks from screens;
use a different password for each account; buy travel insurance; plan a monthly budget;
listen carefully in meetings; cite sources in an essay; cook chicken thoroughly;
keep fresh food in the fridge; preserve old buildings; support local businesses;
warm up the voice before singing; wear a helmet when cycling;
turn off lights when leaving a room; start saving for retirement early;
reduce food waste; learn basic first aid; proofread written work; ask questions in class;
respect local customs when travelling
"""))

# ---------------------------------------------------------------- rewrite (input: a sentence)
template("rewrite", [
    "Rewrite this sentence about {a} in a more formal tone.",
    "Rewrite this sentence about {a} so that it is shorter and clearer.",
    "Paraphrase this sentence about {a} using different words.",
    "Rewrite this sentence about {a} so that a young child could understand it.",
    "Improve the wording of this sentence about {a}.",
], texts("""
cooking pasta | So basically you just throw the pasta in when the water's boiling and wait like ten minutes or so.
a late delivery | The package we ordered didn't come on the day they said it would and nobody told us anything about it.
walking | Going for a walk every day is really good for you because it helps your heart and it also makes you feel happier.
a team meeting | Hey everyone, the meeting got moved to Thursday, so don't bother showing up tomorrow.
saving money | If you put away a little bit of money every single month, after a while you end up with quite a lot.
icy roads | It was super cold this morning and the roads were all icy, so loads of people were late.
library fines | You have to pay a fine if you bring your library books back late, which is kind of annoying.
climate change | The planet is getting hotter and this is mostly because of the gases that humans put into the air.
a job application | I really want this job because I think I'd be good at it and I like your company a lot.
suspicious emails | Don't click on links in emails from people you don't know because they might be trying to steal your stuff.
a school trip | The kids need to bring a packed lunch and a coat because we'll be outside most of the day.
phones at bedtime | Looking at your phone right before bed can make it way harder to fall asleep.
a broken laptop | My laptop just stopped working out of nowhere and now I can't get any of my work done.
a delayed train | Our train was two hours late, so we totally missed the start of the concert.
vaccines | Vaccines sort of teach your body how to fight germs before you actually get sick.
a rude waiter | The food at that place was okay but the waiter was really rude to us the whole time.
recycling bottles | Please put your plastic bottles in the blue bin and not in with the normal rubbish.
Roman roads | The Romans built loads of roads, and a lot of them are still kind of there today.
an essay deadline | The teacher said we have to hand the essay in by Friday or we lose marks.
a birthday party | We're having a party for Sam's birthday on Saturday and you should totally come.
photosynthesis | Plants use light from the sun to make their own food out of water and air.
a rent increase | The landlord says the rent's going up next month and there's nothing we can do about it.
a football match | The team played terribly in the first half but then they came back and won in the end.
a museum visit | The museum has tons of really old stuff from Egypt, and it's free to get in.
saving water | Turning off the tap while you brush your teeth saves a lot of water.
an app launch | Our new app comes out next week and we reckon people are going to love it.
learning a language | Learning a new language is hard at first but it gets easier if you practise every day.
loud music | Could you maybe turn the music down a bit after ten, because we're trying to sleep?
a refund request | We can't give you your money back because you lost the receipt.
volcanic eruptions | When a volcano erupts, really hot melted rock comes up from deep under the ground.
a gym membership | I signed up for the gym in January but I've only gone like three times.
a painting | She painted the picture really fast but it still looks amazing.
a nervous interview | The interview went okay I think, but I was super nervous and forgot some stuff.
eating fruit and vegetables | Eating lots of fruit and veg is a good way to get the vitamins your body needs.
changing a flight | I need to change my flight because something came up at work.
an app update | You need to update the app or else some of the features won't work anymore.
a local park | The park near my house is really nice in the summer but it gets crowded at weekends.
copying books by hand | Before the printing press, books had to be copied out by hand, which took ages.
a late report | Sorry, I didn't finish the report on time because I had too much other work.
hiking safety | Make sure you bring enough water and tell someone where you're going before you go hiking.
a lost wallet | I think I left my wallet on the bus, and it had all my cards in it.
a new bakery | There's a new bakery down the road and their croissants are honestly the best ever.
"""))

# ---------------------------------------------------------------- summarise (input: a passage)
template("summarise", [
    "Summarise this passage about {a} in one sentence.",
    "Summarise the main points of this text about {a} as two or three bullet points.",
    "Write a short headline for this passage about {a}.",
    "What is the main idea of this passage about {a}?",
    "Summarise this text about {a} in fewer than 25 words.",
], passages("""
honeybees
Honeybees play a vital role in farming. As they move from flower to flower collecting
nectar, they carry pollen that allows plants to produce fruit and seeds. Crops such as
apples, almonds and many berries depend heavily on this process. In recent decades,
beekeepers in several countries have reported large losses of colonies. Scientists link
these losses to a mix of causes, including pesticides, parasites, disease and the loss of
wild flowers. Planting flowers and using fewer pesticides can help bees recover.

the history of tea
Tea has been drunk in China for thousands of years, first as a medicine and later as an
everyday drink. From China, the habit spread to Japan and Korea, where it became part of
formal ceremonies. European traders brought tea to Europe in the seventeenth century, and
it quickly became fashionable in Britain. To meet demand, the British set up huge tea
plantations in India and Sri Lanka in the nineteenth century. Today tea is one of the most
popular drinks in the world.

sleep and memory
Sleep is not just a time of rest for the brain. Research suggests that while we sleep, the
brain replays and strengthens memories formed during the day. Students who sleep well after
learning new material tend to remember it better than those who stay up all night. Lack of
sleep also makes it harder to concentrate and to learn new things the next day. For this
reason, many experts advise students to avoid late-night cramming before exams.

compound interest
Compound interest means earning interest on your interest. If you save 1,000 pounds at 5
per cent a year, you earn 50 pounds in the first year. In the second year, you earn 5 per
cent on 1,050 pounds, which is 52.50 pounds. Over many years, this snowball effect can make
savings grow surprisingly fast. The same principle works against borrowers, however: unpaid
credit card debts can grow quickly when interest is charged on interest.

microplastics
Microplastics are tiny pieces of plastic less than five millimetres long. Some are made
small on purpose, like the beads once used in face scrubs, while others form when larger
items such as bottles and bags break down. They have been found almost everywhere scientists
have looked, from deep ocean trenches to Arctic ice. Fish and other sea creatures can
swallow them, and researchers are studying how they might affect the health of animals and
people. Using less single-use plastic is one way to limit the problem.

the Silk Road
The Silk Road was not a single road but a network of trade routes linking China with
Central Asia, the Middle East and Europe. It was used for well over a thousand years.
Merchants carried silk, spices, paper and precious metals along it, usually passing goods
from one trader to the next rather than travelling the whole way. Ideas travelled too:
religions, languages, inventions and even diseases spread along these routes, shaping the
cultures of the regions they connected.

remote working
Since 2020, many office workers have spent at least part of the week working from home.
Supporters say it saves time and money on commuting and gives people more control over
their day. Critics worry that it can leave staff feeling isolated and make it harder for
new employees to learn from experienced colleagues. As a result, many companies have settled
on a hybrid model, with staff in the office on some days and at home on others.

cycling in cities
Cities such as Copenhagen and Amsterdam are famous for the large share of journeys made by
bicycle. This did not happen by accident. Over decades, these cities built separate cycle
lanes, safe junctions and plenty of bike parking. Research shows that when people feel
safe, they are much more likely to cycle. Cities that want to reduce traffic and pollution
are now copying these ideas, although new cycle lanes can be expensive and sometimes
controversial.

the printing press
Around 1440, Johannes Gutenberg developed a printing press with movable metal type in the
German city of Mainz. Before this, most books in Europe were copied by hand, which made
them rare and expensive. Printing allowed books to be produced far more quickly and
cheaply. Within a few decades, printing shops had spread across Europe. The new technology
helped to spread news, scientific ideas and religious debates, and it encouraged more people
to learn to read.

coral bleaching
Coral reefs are built by tiny animals that live in partnership with colourful algae. When
the water becomes too warm for too long, the corals push out the algae and turn white, a
process called bleaching. Bleached corals are not dead, but they are weakened and may die if
the water does not cool down. Rising sea temperatures have caused several mass bleaching
events in recent years, worrying scientists who study reefs around the world.

the first vaccine
In 1796, the English doctor Edward Jenner noticed that milkmaids who had caught cowpox, a
mild disease, seemed to be protected from smallpox. He tested the idea by giving a boy
material from a cowpox sore and later exposing him to smallpox. The boy did not become ill.
Jenner's method, called vaccination after the Latin word for cow, spread around the world.
Almost two centuries later, in 1980, smallpox was declared eradicated.

the ancient Olympic Games
The ancient Olympic Games were held at Olympia, in Greece, every four years, traditionally
from 776 BC. They were part of a religious festival in honour of the god Zeus. Events
included running races, wrestling, boxing and chariot racing. Winners received a simple
crown of olive leaves but often became celebrities in their home cities. The games continued
for more than a thousand years before ending in the late fourth century AD. The modern
Olympics began in Athens in 1896.

Pompeii
In AD 79, Mount Vesuvius erupted and buried the Roman town of Pompeii under a thick layer
of ash. The town was largely forgotten for centuries until excavations began in the 1700s.
Because the ash preserved buildings, wall paintings and even food, Pompeii gives historians
a rare picture of daily life in the Roman world. Today it is one of the most visited
archaeological sites in Italy, although experts worry that crowds and weather are damaging
the ruins.

password security
Many people use the same simple password for several accounts. This is risky, because if
one website is hacked, criminals can try the same password on email, banking and shopping
sites. Security experts recommend using a long, different password for each account. A
password manager can create and remember these for you. Turning on two-factor
authentication, which asks for a code from your phone as well as a password, adds another
layer of protection.

food waste
A large share of the food produced around the world is never eaten. Some is lost on farms
or during transport, but much is thrown away in shops and homes. Households often waste food
because they buy too much, store it badly or misunderstand date labels. Planning meals,
checking the fridge before shopping and using leftovers creatively can all help. Reducing
food waste saves money and also cuts the greenhouse gases produced by growing and
transporting food.

learning an instrument
Learning to play a musical instrument takes patience, but it can bring many benefits.
Regular practice improves concentration and coordination, and playing with others builds
teamwork. Some studies suggest that musical training may also help children with reading
and memory, although researchers still debate how strong these effects are. Most teachers
agree that short daily practice sessions are more useful than one long session a week, and
that enjoyment is the key to keeping going.

the water cycle
The water cycle describes how water moves around the Earth. Heat from the sun causes water
in oceans, lakes and rivers to evaporate into the air as vapour. As the vapour rises and
cools, it condenses into tiny droplets that form clouds. When the droplets grow heavy
enough, they fall back to the ground as rain, snow or hail. This water then flows into
rivers or soaks into the ground, and eventually returns to the sea, where the cycle begins
again.

the Amazon rainforest
The Amazon is the largest tropical rainforest in the world, covering parts of Brazil, Peru,
Colombia and several other countries. It is home to a huge number of species of plants,
insects and animals, many of which have not yet been studied. The forest also stores vast
amounts of carbon, which helps to slow climate change. However, large areas have been
cleared for cattle farming, crops and logging, and scientists warn that too much damage
could change the forest permanently.

antibiotic resistance
Antibiotics are medicines that kill bacteria or stop them from growing. Since the 1940s
they have saved millions of lives. But when antibiotics are used too often or not taken
properly, some bacteria survive and become resistant. These resistant bacteria can then
spread, making some infections much harder to treat. Doctors now try to prescribe
antibiotics only when they are really needed, and patients are advised to take them exactly
as instructed.

the 50/30/20 budgeting rule
The 50/30/20 rule is a simple way to plan a budget. It suggests spending about half of your
income after tax on needs, such as rent, bills and food. Around thirty per cent goes on
wants, like eating out, hobbies and holidays. The remaining twenty per cent is put towards
savings or paying off debt. The rule does not suit everyone, especially people with very
high rents, but it gives beginners a clear starting point.

jet lag
Jet lag happens when you travel quickly across several time zones and your body clock no
longer matches the local time. Common symptoms include tiredness during the day, difficulty
sleeping at night, poor concentration and stomach problems. It is usually worse when flying
east. To reduce jet lag, travellers are advised to get daylight at the right times, shift
their sleep schedule before leaving, and avoid heavy meals and alcohol on the flight.

sourdough bread
Sourdough bread is made without packaged yeast. Instead, bakers use a starter: a mixture of
flour and water that has been left to ferment, allowing wild yeasts and bacteria to grow.
The starter makes the dough rise slowly and gives the bread its slightly sour taste and
chewy texture. Looking after a starter means feeding it with fresh flour and water
regularly. Many people took up sourdough baking as a hobby while staying at home in 2020.

the Mediterranean diet
The Mediterranean diet is based on the traditional eating habits of countries such as
Greece, Italy and Spain. It includes plenty of vegetables, fruit, beans, whole grains, nuts
and olive oil, along with moderate amounts of fish and only small amounts of red meat and
sweets. Many studies have linked this way of eating to a lower risk of heart disease.
Experts say part of its appeal is that it is flexible and enjoyable rather than strict.

electric cars
Electric cars run on batteries instead of petrol or diesel, so they produce no exhaust fumes
while driving. Sales have grown quickly in many countries, helped by falling battery costs
and government incentives. Drivers often say the cars are quiet and cheap to run. However,
some people worry about the high purchase price, the time it takes to charge and the small
number of charging points in rural areas. Making batteries also requires mining, which has
its own environmental costs.

the Great Wall of China
The Great Wall of China is a series of walls and forts built over many centuries to protect
Chinese states from invasions from the north. Much of the wall that visitors see today was
built during the Ming dynasty, between the fourteenth and seventeenth centuries. Including
all its branches, the wall stretches for thousands of kilometres across mountains, deserts
and grasslands. Contrary to a popular myth, it cannot easily be seen with the naked eye
from space.

Impressionism
Impressionism was an art movement that began in France in the 1860s and 1870s. Painters
such as Claude Monet and Pierre-Auguste Renoir wanted to capture the changing effects of
light and colour, often working outdoors. They used quick, visible brushstrokes and bright
colours, which shocked many critics at the time. The movement's name came from Monet's
painting Impression, Sunrise. Although the Impressionists were once mocked, their works now
hang in major museums around the world.

a new flexible working policy
From the first of next month, all staff will be able to choose their own start time between
7 am and 10 am, as long as they work their full hours and attend the team meeting on Monday
mornings. Managers will review the policy after six months. Anyone who would prefer to keep
their current hours can do so. Please speak to your line manager if you have any questions,
or if the change causes problems for your team.

spaced repetition
Spaced repetition is a study technique in which you review information at increasing
intervals. Instead of reading your notes ten times in one evening, you might review them
after one day, then three days, then a week. Each review comes just as you are about to
forget, which strengthens the memory. Many language learners use flashcard apps that
schedule reviews automatically. Research shows the method works better than cramming for
long-term learning.

solar power
Solar panels turn sunlight into electricity using cells made mainly of silicon. The cost of
solar panels has fallen dramatically over the past two decades, making solar one of the
cheapest ways to generate electricity in many parts of the world. Panels can be fitted on
house roofs or grouped in large solar farms. The main challenge is that the sun does not
shine at night, so solar power is often combined with batteries or other energy sources.

the first Moon landing
On 20 July 1969, the American astronauts Neil Armstrong and Buzz Aldrin became the first
people to walk on the Moon, while their colleague Michael Collins orbited above. Hundreds of
millions of people around the world watched the event on television. The Apollo 11 mission
was the result of years of work by a huge team of engineers, scientists and other staff.
Between 1969 and 1972, twelve astronauts walked on the Moon; nobody has been back since.

wetlands
Wetlands such as marshes, swamps and bogs are among the most valuable habitats on Earth.
They provide homes for many birds, fish and insects, and they act like sponges, soaking up
rainwater and reducing the risk of floods. Wetlands also filter pollution from water and
store large amounts of carbon. Despite this, many wetlands have been drained for farming
and building. Conservation groups are now working to restore some of them.

the marathon
The marathon is named after a legend from ancient Greece. According to the story, a
messenger ran from the town of Marathon to Athens to announce a military victory, then
collapsed and died. The first modern marathon was held at the 1896 Olympic Games. The
official distance of 42.195 kilometres was fixed in 1921. Today, big-city marathons attract
tens of thousands of runners, from elite athletes to first-timers raising money for charity.

phishing emails
Phishing emails try to trick people into giving away passwords, bank details or other
personal information. They often pretend to come from a bank, a delivery company or a
well-known website, and they usually create a sense of urgency, for example by warning that
your account will be closed. Warning signs include spelling mistakes, strange sender
addresses and links that do not match the real website. If in doubt, contact the company
directly instead of clicking any link.

a community garden
Residents of Elm Street have turned an empty car park into a community garden. Over the past
year, volunteers have built raised beds, planted fruit trees and set up a small greenhouse.
Local schoolchildren visit every week to learn how vegetables grow, and spare produce is
given to a nearby food bank. The organisers say the project has also brought together
neighbours who had never spoken before. They are now looking for more volunteers for the
summer.

the history of chocolate
Chocolate comes from the seeds of the cacao tree, which grows in tropical regions. Ancient
peoples of Central America, including the Maya and the Aztecs, made a bitter drink from
cacao, often flavoured with chilli. Cacao seeds were so valuable that they were sometimes
used as money. Spanish explorers brought cacao to Europe in the sixteenth century, where
sugar was added to make it sweeter. Solid chocolate bars were not produced until the
nineteenth century.

drinking enough water
Water makes up more than half of the human body and is needed for almost every process in
it, from controlling temperature to carrying nutrients around. Even mild dehydration can
cause headaches, tiredness and poor concentration. How much water a person needs depends on
their size, how active they are and the weather. Much of our water comes from food as well
as drinks. A simple guide is to drink regularly through the day and to check that your
urine is pale in colour.

the Sahara
The Sahara is the largest hot desert in the world, covering much of North Africa. Yet it has
not always been dry. Between roughly 11,000 and 5,000 years ago, the region was much
greener, with lakes, grasslands and animals such as giraffes and hippos. Rock paintings
found in the desert show people herding cattle. Scientists believe small changes in the
Earth's orbit shifted rainfall patterns, slowly turning the green landscape into the desert
we see today.

fast fashion
Fast fashion means cheap clothing that is produced quickly to follow the latest trends. It
lets shoppers buy new styles at low prices, but it has serious costs. The industry uses
large amounts of water and energy, and many garments are thrown away after being worn only
a few times. Workers in some factories face low pay and poor conditions. Buying fewer,
better-quality clothes, repairing them and shopping second-hand are ways to reduce the
impact.

the invention of paper
Paper was invented in China. Traditional accounts credit a court official named Cai Lun
with improving the process around AD 105, using materials such as tree bark, old rags and
hemp. Paper was cheaper and lighter than the bamboo strips and silk that people had written
on before. The technique slowly spread along trade routes to the Islamic world and then to
Europe, where paper mills became common by the fourteenth century.

a library reopening
The town library will reopen on Saturday after a six-month renovation. The building now has
a larger children's section, a quiet study room, faster Wi-Fi and a small café. Opening
hours have been extended until 8 pm on weekdays. To celebrate, there will be a storytelling
session for young children in the morning and a talk by a local author in the afternoon.
Library cards issued before the renovation will still work.
"""))

# ---------------------------------------------------------------- classify (input: a short text)
template("classify", [
    "Is this review of {a} positive, negative or mixed?",
    "Classify the sentiment of this review of {a} as positive, negative or neutral, "
    "and explain why in one sentence.",
    "Would the writer of this review of {a} recommend it? Answer yes or no, then give a reason.",
    "Based on its tone, what star rating from 1 to 5 did this review of {a} probably give?",
], texts("""
a pair of running shoes | I've run about 200 km in these and they still feel great. Light, comfortable and no blisters so far. Would buy again.
a budget hotel | The room was clean and the staff were friendly, but the walls were so thin that I barely slept. Fine for one night, not more.
a cookbook | Beautiful photos, but half the recipes need ingredients I couldn't find anywhere. I've cooked two dishes from it in a year.
a coffee machine | Stopped working after three weeks, and customer service never replied to my emails. Avoid.
a science museum | My kids loved the hands-on exhibits and we stayed much longer than planned. The café was overpriced, though.
a language-learning app | Fun at first, but the lessons get repetitive and it keeps pushing me to pay for the premium version.
a wireless keyboard | Does exactly what it says. Connects quickly, the battery lasts for months, and typing is quiet.
a novel | The first half dragged, but the ending was so moving that I've already recommended it to three friends.
a pizza restaurant | Best pizza I've had in years. Friendly service, fair prices, and they even remembered my name on my second visit.
a pair of headphones | The sound is decent for the price, but they hurt my ears after an hour.
a guided walking tour | Our guide knew the story behind every building. Two hours flew by. Worth every penny.
a yoga class | The teacher was kind, but the room was too hot and too crowded to move properly.
a train journey | Comfortable seats and lovely views, although the train was 40 minutes late and the Wi-Fi didn't work.
a phone case | Cracked the first time I dropped my phone. The phone survived; the case did not. Not impressed.
"""))

template("classify", [
    "Classify this headline about {a} into one of these categories: science, health, "
    "business, sport, politics, culture, environment.",
    "Is this headline about {a} good news, bad news or neutral? Explain briefly.",
    "Does this headline about {a} mainly report facts or give an opinion? Answer and explain.",
    "Which readers would be most interested in this headline about {a}? Give one group and a reason.",
], texts("""
coral reefs | Scientists Find Heat-Resistant Coral That Could Help Reefs Survive Warmer Seas
a cup quarter-final | Underdogs Stun League Leaders With Late Winner in Cup Quarter-Final
interest rates | Central Bank Holds Interest Rates Steady for Third Month in a Row
a malaria vaccine | Early Trials Show New Malaria Vaccine Is Safe and Effective in Children
a folding phone | Tech Firm Unveils Folding Phone With Week-Long Battery Life
a mayoral election | Voters Head to the Polls as Mayor Faces Tight Race
an art exhibition | Forgotten Paintings by Village Schoolteacher Go on Display in Capital
a heatwave | Record Temperatures Force Schools to Close Early Across the Region
an airline strike | Hundreds of Flights Cancelled as Airline Staff Walk Out Over Pay
teenage sleep | Teenagers Who Start School Later Do Better in Exams, Study Suggests
supermarket job cuts | Supermarket Chain to Cut 2,000 Jobs as Online Sales Grow
a space probe | Probe Sends Back First Close-Up Images of Distant Icy Moon
a summer festival | Summer Festival Sells Out in Record Time Despite Higher Ticket Prices
affordable housing | Council Approves Plan for 500 Affordable Homes on Former Factory Site
an older runner | Grandmother, 78, Completes Her Twentieth Marathon
"""))

template("classify", [
    "Is this message about {a} spam or a genuine message? Explain your answer.",
    "Classify this message about {a} as urgent or not urgent.",
    "Classify the tone of this message about {a} as friendly, neutral, annoyed or pushy.",
    "Who most likely sent this message about {a}: a friend, a neighbour, a business, a colleague "
    "or a scammer?",
], texts("""
a prize draw | Congratulations! You have been selected to win a £500 gift card. Click the link within 24 hours to claim your prize.
a parcel redelivery fee | Your parcel could not be delivered. Pay the £1.99 redelivery fee at the link below to choose a new date.
a dentist appointment | This is a reminder of your dental appointment on Tuesday at 9:30. Reply C to confirm or call us to rearrange.
a team lunch | Hi all, we're booking a table for Friday's team lunch. Let me know by Wednesday if you'd like to come!
a leaking ceiling | Water is coming through my kitchen ceiling from your flat. Can you come home right now? I can't find the stopcock.
a bank security check | Dear customer, unusual activity was detected on your account. Verify your identity now by entering your password at the link below.
an overdue invoice | This is our third reminder that invoice 2041 is now 45 days overdue. Please arrange payment by Friday to avoid further action.
a borrowed cookbook | No rush at all, but could you bring back my cookbook next time you're over? I want to try that lemon cake again.
a snow day | Due to heavy snow, the school will be closed tomorrow. Please check the website for updates on Thursday.
an investment offer | Make 300% returns in just 7 days! Our trading experts guarantee profit. Only a few places left, so invest now.
a project deadline | The client has moved the deadline forward to tomorrow morning. I need your part of the report by 6 pm today.
a birthday invitation | You're invited to Maya's 8th birthday party in the park on Sunday at 2 pm. Cake and games provided!
a noisy party | This is the second night in a row your music has kept the whole building awake. If it happens again, I will contact the landlord.
a missed call | Sorry I missed your call earlier, I was in a meeting. Free to talk after five if that works?
"""))


# ---------------------------------------------------------------- build the splits
def sft_instructions():
    """Instructions already used by the SFT data (data/sft.jsonl)."""
    found = set()
    for path in [DATA / "sft.jsonl"]:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                found.add(json.loads(line)["instruction"].strip())
            except (ValueError, KeyError, TypeError, AttributeError):
                pass  # blank or half-written line: ignore it
    return found


def all_prompts(skip):
    """task -> [(group, row)]: every phrasing x filler, each instruction string once."""
    by_task, seen = defaultdict(list), set()
    for task, phrasings, items in TEMPLATES:
        for item in items:
            group = (task, *item.values())  # all phrasings of one filler share a split
            instructions = [phrasing.format(**item) for phrasing in phrasings]
            if skip.intersection(instructions):
                continue  # this filler is already used by the SFT data
            for instruction in instructions:
                if instruction not in seen:
                    seen.add(instruction)
                    by_task[task].append((group, {"task": task, "instruction": instruction,
                                                  "input": item.get("text", ""), "output": ""}))
    return by_task


def main():
    rng = random.Random(0)
    total = sum(SIZES.values())
    # A group goes to eval, rl or pref by where it starts in its task's shuffled list.
    bounds = [("eval", SIZES["eval"] / total),
              ("rl", (SIZES["eval"] + SIZES["rl"]) / total), ("pref", 1.0)]
    sft = sft_instructions()
    by_task = all_prompts(sft)
    print(f"{sum(map(len, by_task.values()))} unique prompts "
          f"(after excluding the {len(sft)} SFT instructions)")

    splits = {name: [] for name in SIZES}
    for task in sorted(by_task):
        prompts = by_task[task]
        if len(prompts) > CAP:
            prompts = rng.sample(prompts, CAP)
        groups = defaultdict(list)
        for group, row in prompts:
            groups[group].append(row)
        order = list(groups.values())
        rng.shuffle(order)
        done = 0
        for rows in order:
            name = next(n for n, bound in bounds if done / len(prompts) < bound)
            splits[name] += rows
            done += len(rows)

    for name, rows in splits.items():
        rng.shuffle(rows)
        if len(rows) < SIZES[name]:
            print(f"warning: only {len(rows)} prompts for {name} (wanted {SIZES[name]})")
        del rows[SIZES[name]:]
        with open(DATA / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        mix = Counter(row["task"] for row in rows)
        print(f"{name}: {len(rows)} rows, largest task share "
              f"{max(mix.values()) / len(rows):.0%} ({mix.most_common(1)[0][0]})")


if __name__ == "__main__":
    main()
