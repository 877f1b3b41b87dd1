/* Template text of the offline story writer; see story_templates.h. */
#include "story_templates.h"

const struct genre story_genres[] = {
    {"adventure",
     {"{hero} and the Hidden Map", "The Great Climb of {hero}",
      "{hero} Beyond the River"},
     {"the misty mountains", "the whispering canyon", "the old harbour",
      "the tall pine forest"},
     {"a clever parrot", "a retired sea captain", "a quick red fox",
      "a girl with a spyglass"},
     {"a torn map", "a brass compass", "a rope ladder", "a silver key"},
     "{hero}, {desc}, woke before sunrise with a feeling that today would "
     "be different. Tucked under the door was {thing} that pointed toward "
     "{place}.",
     {"{hero} packed a bag with bread, water and a warm coat, and set off "
      "down the winding road.",
      "At the edge of {place}, {hero} met {friend}, who knew the paths "
      "better than anyone.",
      "A rope bridge swayed over a roaring gap. {hero} took a deep breath "
      "and crossed one careful step at a time.",
      "A sudden storm rolled in, and the two of them sheltered in a cave "
      "lit by glowing stones.",
      "Inside the cave they found marks on the wall that matched {thing}. "
      "The last piece of the puzzle clicked into place.",
      "Behind a curtain of ivy stood an old door. {hero} pushed, and it "
      "creaked open onto a field of golden light."},
     "{hero} came home tired and happy, with muddy boots and a heart full "
     "of stories. The greatest treasure, {hero} decided, was the courage "
     "found along the way."},
    {"siblings",
     {"{hero} and the Borrowed Kite", "Two of a Kind",
      "{hero} and the Long Rainy Day"},
     {"the back garden", "the creaky attic", "the kitchen table",
      "the park by the pond"},
     {"a little brother", "a big sister", "a younger sister",
      "an older brother"},
     {"a red kite", "a box of crayons", "a puzzle with one missing piece",
      "a cardboard castle"},
     "{hero}, {desc}, shared a small house with {friend} who always "
     "wanted to do everything together. This morning they both wanted "
     "{thing}.",
     {"They argued about whose turn it was, and their voices grew louder "
      "and louder.",
      "{hero} stomped off to {place} and sat alone, feeling cross and a "
      "little bit sorry.",
      "Through the window {hero} saw {friend} trying to manage alone and "
      "getting it all wrong.",
      "{hero} went back and quietly offered to help. Together it was "
      "suddenly much easier.",
      "They laughed when everything tumbled over, and started again, "
      "taking turns this time.",
      "By the afternoon they had made something neither could have made "
      "alone."},
     "That night {hero} and {friend} agreed that sharing was hard, but "
     "having each other was the best thing of all."},
    {"bedtime",
     {"{hero} Counts the Stars", "Goodnight, {hero}",
      "{hero} and the Sleepy Moon"},
     {"the quiet bedroom", "the moonlit window", "the soft blanket fort",
      "the garden under the stars"},
     {"a sleepy owl", "a fluffy cloud", "a teddy bear named Button",
      "a friendly firefly"},
     {"a warm glass of milk", "a little night light", "a favourite pillow",
      "a book of lullabies"},
     "When the sun went down, {hero}, {desc}, was not sleepy at all. "
     "{hero} sat by {place} and looked at the sky.",
     {"{friend} drifted by and asked why {hero} was still awake.",
      "Together they counted the stars, one by one, slower and slower.",
      "The moon hummed a soft tune, and the wind joined in with a gentle "
      "whoosh.",
      "{hero} remembered {thing} and felt warm and safe inside.",
      "The crickets sang quietly, and every house in the town turned off "
      "its lights.",
      "{hero} yawned a great big yawn and snuggled under the covers."},
     "The stars kept watch all night long, and {hero} slept peacefully "
     "until morning. Goodnight, {hero}."},
    {"fantasy",
     {"{hero} and the Dragon's Promise", "The Crystal of {hero}",
      "{hero} and the Enchanted Gate"},
     {"the enchanted forest", "the floating islands", "the crystal caves",
      "the castle in the clouds"},
     {"a young dragon", "a wise old wizard", "a talking cat",
      "a tiny fairy with silver wings"},
     {"a glowing crystal", "a wand of willow wood", "a book of spells",
      "a feather that shimmered like fire"},
     "In a kingdom where the rivers sang, lived {hero}, {desc}. One day "
     "{thing} fell from the sky and landed right at {hero}'s feet.",
     {"{friend} appeared in a puff of sparkles and said the kingdom's "
      "magic was fading.",
      "They travelled to {place}, where the trees glowed blue and the "
      "flowers whispered secrets.",
      "A shadowy guardian blocked the path and asked a riddle only a kind "
      "heart could answer.",
      "{hero} answered with the truth, and the guardian bowed and let "
      "them pass.",
      "At the heart of the magic, the light was dim and flickering like "
      "a tired candle.",
      "{hero} held up {thing} and wished with all their might, and the "
      "light burst bright again."},
     "Colours rushed back into the kingdom and everyone cheered. {hero} "
     "learned that the strongest magic of all is kindness."},
    {"history",
     {"{hero} and the Ancient Scroll", "A Day in Old Rome with {hero}",
      "{hero} Sails with the Explorers"},
     {"the busy market of an ancient city", "the deck of a wooden ship",
      "the workshop of a great inventor", "the steps of a tall pyramid"},
     {"a young scribe", "a ship's cook", "an inventor's apprentice",
      "a traveling storyteller"},
     {"an old coin", "a rolled parchment", "a clay lamp",
      "a hand-drawn star chart"},
     "{hero}, {desc}, found {thing} in a museum drawer. As soon as "
     "{hero} touched it, the room spun and the walls faded away.",
     {"{hero} stood in {place}, surrounded by sounds and smells from "
      "long ago.",
      "{friend} showed {hero} how people lived, worked and ate in those "
      "days.",
      "They helped carry goods and learned how hard everyday work could "
      "be.",
      "A problem came up that needed a clever idea, and {hero} "
      "remembered something learned at school.",
      "Everyone cheered, and {friend} wrote the day down so it would "
      "never be forgotten.",
      "As the sun set, {thing} began to glow again, calling {hero} "
      "home."},
     "Back in the museum, {hero} smiled at the old display. History, "
     "{hero} knew now, was full of real people with real stories."},
};

/* Journey paragraphs that pad any genre's middle. */
const char *const story_journey[] = {
    "{hero} stopped to rest and watched the clouds change shape. A gentle "
    "breeze carried the smell of fresh grass.",
    "{friend} told a funny story, and {hero} laughed so hard that the "
    "birds flew up from the trees.",
    "The path split in two. {hero} thought carefully and chose the one "
    "that felt right.",
    "They shared a simple meal of bread and apples and talked about what "
    "might happen next.",
    "A small creature was stuck under a branch, and {hero} gently set it "
    "free.",
    "{hero} felt a little afraid, but remembered that being brave means "
    "going on anyway.",
    "Night fell, and they made a small camp. The stars looked brighter "
    "than ever before.",
    "In the morning everything sparkled with dew, and {hero} felt ready "
    "for anything.",
    "{hero} looked at {thing} again and noticed a detail nobody had seen "
    "before.",
    "A kind stranger pointed the way and wished them good luck.",
    "They had to work together to move a heavy stone from the path.",
    "{hero} wrote a few words in a notebook so this day would never be "
    "forgotten.",
};

const char *const story_names[] = {"Mia",  "Leo",  "Ava",  "Noah",
				   "Zara", "Finn", "Ivy",  "Omar",
				   "Luna", "Theo", "Nora", "Kai"};

const size_t story_ngenres = sizeof(story_genres) / sizeof(story_genres[0]);
