"""Generate the webshop-mini catalogue and instructions from hand-written vocabularies.

    .venv/bin/python scripts/make_webshop_mini.py [--out rememberer_tui/envs/data/webshop_mini]

Seeded (random.Random(SEED)), so the committed JSON is reproducible byte for byte. Products
follow WebShop's product record (Title, Description, BulletPoints, Price, pricing, options,
Attributes, Rating, Reviews, query, category, product_category); goals follow its goal record
(instruction_text, attributes, goal_options, price_upper, ...), with the price bound drawn
as WebShop draws it. Each product's texts mention only its own attributes and never an
option value, so the reward of a purchase depends on the options the agent chooses.
"""

from __future__ import annotations

import argparse
import json
import random
from itertools import combinations
from pathlib import Path

from rapidfuzz import fuzz

SEED = 20230517
PRODUCTS_PER_TYPE = 11
GOALS = {"train": 110, "test": 50}
PRICE_RANGE = [10.0 * i for i in range(1, 100)]  # WebShop's goal price bounds
OUT = Path(__file__).resolve().parent.parent / "rememberer_tui" / "envs" / "data" / "webshop_mini"

CATEGORIES = {
    "beauty": "Beauty & Personal Care",
    "electronics": "Electronics",
    "fashion": "Clothing, Shoes & Jewelry",
    "grocery": "Grocery & Gourmet Food",
    "home": "Home & Kitchen",
}
BRANDS = {
    "beauty": ["Earth Mama", "Pure Bloom", "Native Grove", "Lumina Botanics", "Cedar & Sage", "Velvet Ridge",
               "Alpine Dew", "Honeyfield", "Seaside Apothecary", "Marigold Lane"],
    "electronics": ["Voltrix", "Nordvik Audio", "Quanta", "Braxton", "Zentro", "Helix Labs", "Orbitone",
                    "Kestrel Tech", "Lumio", "Stratus"],
    "fashion": ["Harbor & Pine", "Northpeak", "Urban Thread", "Coastline Co.", "Wildhaven", "Ridgeway",
                "Maple & Main", "Summit Supply", "Foxglove", "Ironbark"],
    "grocery": ["Golden Acre", "Blue Mesa", "Hearthstone Farms", "Sunny Orchard", "Wild Harvest Co.",
                "Copper Kettle", "Meadowbrook", "Old Mill", "Saltwater Kitchen", "Tender Leaf"],
    "home": ["Oakhurst", "Linen Loft", "Hearth & Haven", "Brightway", "Nestwell", "Driftwood Home",
             "Stonebridge", "Willow Row", "Casa Verde", "Tidewater"],
}
REVIEW_TITLES = ["Works great", "Exactly as described", "Good value", "Does the job", "Would buy again",
                 "Pretty happy with it", "Not bad for the price", "Better than expected"]
REVIEW_BODIES = ["I have been using this {noun} for a few weeks and it does what it says.",
                 "Arrived quickly and the quality is better than I expected for a {noun}.",
                 "Bought this {noun} as a gift and they loved it.",
                 "Solid {noun}. I took off a star because the packaging was damaged.",
                 "This is my second time ordering this {noun}; no complaints."]
BULLETS = ["{A} - {benefit}", "{A}: {benefit}", "{A} | {benefit}"]
OPTION_PHRASES = {"color": "in {v}", "size": "in size {v}", "scent": "with {v} scent",
                  "flavor": "in {v} flavor", "style": "in the {v} style"}
INSTRUCTIONS = [
    "i need {article} {attrs} {noun}{options}, and price lower than {price} dollars",
    "i am looking for {article} {noun} that is {attrs}{options}, and price lower than {price} dollars",
    "i would like {article} {attrs} {noun}{options}, and price lower than {price} dollars",
    "find me {article} {noun} with {attrs} features{options}, and price lower than {price} dollars",
    "i want to buy {article} {attrs} {noun}{options}, and price lower than {price} dollars",
]

# Each product type: the search query (its type), category path, the noun used in titles
# and in instructions, an attribute pool, option groups (name -> values), a price range,
# title descriptors, benefit lines for features, and a sentence for the description.
TYPES = [
    dict(category="beauty", query="deodorant", path="Personal Care › Deodorants & Antiperspirants › Deodorant",
         noun="deodorant", titles=["Deodorant", "Deodorant Stick", "Deodorant Cream"],
         attributes=["aluminum free", "sensitive skin", "cruelty free", "paraben free", "baking soda free",
                     "vegan formula", "travel size"],
         options={"scent": ["bright citrus", "calming lavender", "ginger fresh", "unscented", "cedar patchouli",
                            "coconut vanilla"],
                  "size": ["2.5 ounce (pack of 1)", "3 ounce (pack of 1)", "3 ounce (pack of 2)",
                           "travel set (4-pack)"]},
         price=(6, 24), descriptors=["Natural", "Everyday", "Gentle", "Clinical"],
         benefits=["keeps you fresh from morning to night", "glides on smoothly without white marks",
                   "made with organic coconut oil and shea butter"],
         about="A deodorant made for people who care about what goes on their skin."),
    dict(category="beauty", query="shampoo", path="Hair Care › Shampoo & Conditioner › Shampoos",
         noun="shampoo", titles=["Shampoo", "Clarifying Shampoo", "Moisturizing Shampoo"],
         attributes=["sulfate free", "color safe", "dry hair", "natural ingredients", "dandruff control",
                     "curly hair", "tea tree oil"],
         options={"scent": ["rosemary mint", "coconut milk", "argan blossom", "fragrance free", "green apple"],
                  "size": ["8 fl oz (pack of 1)", "12 fl oz (pack of 1)", "16 fl oz (pack of 1)",
                           "12 fl oz (pack of 2)"]},
         price=(7, 32), descriptors=["Salon Quality", "Daily", "Repairing", "Botanical"],
         benefits=["cleans gently while protecting natural oils", "leaves hair soft, shiny and manageable",
                   "rinses clean without residue"],
         about="A salon quality shampoo for everyday washing."),
    dict(category="beauty", query="face moisturizer", path="Skin Care › Face › Creams & Moisturizers",
         noun="face moisturizer", titles=["Face Moisturizer", "Face Cream", "Facial Lotion"],
         attributes=["hyaluronic acid", "oily skin", "fragrance free", "spf 30", "non comedogenic",
                     "anti aging", "oil free"],
         options={"size": ["1.7 fl oz", "2.5 fl oz", "3.4 fl oz", "5 fl oz"],
                  "style": ["day cream", "night cream", "day and night set"]},
         price=(9, 48), descriptors=["Lightweight", "Daily", "Hydrating", "Dermatologist Tested"],
         benefits=["absorbs quickly with no greasy feel", "hydrates for up to 24 hours",
                   "works well under makeup"],
         about="A lightweight face cream for a smooth and healthy complexion."),
    dict(category="beauty", query="lipstick", path="Makeup › Lips › Lipstick",
         noun="lipstick", titles=["Matte Lipstick", "Lipstick", "Satin Lipstick"],
         attributes=["long lasting", "highly pigmented", "cruelty free", "moisturizing formula", "vitamin e",
                     "smudge proof", "paraben free"],
         options={"color": ["ruby red", "nude pink", "berry wine", "coral crush", "mauve rose", "deep plum"]},
         price=(5, 26), descriptors=["Creamy", "Bold", "Velvet", "Classic"],
         benefits=["stays put through meals and coffee", "glides on in a single stroke",
                   "comfortable wear without drying lips"],
         about="A lipstick with rich color and a comfortable feel."),
    dict(category="beauty", query="nail polish", path="Makeup › Nails › Nail Polish",
         noun="nail polish", titles=["Nail Polish", "Gel Nail Polish", "Nail Lacquer"],
         attributes=["quick dry", "non toxic", "chip resistant", "high shine", "vegan formula", "long wear"],
         options={"color": ["cherry red", "ballet pink", "midnight navy", "sage green", "pearl white", "lilac"],
                  "size": ["0.5 fl oz", "0.5 fl oz (pack of 3)", "0.27 fl oz (pack of 6)"]},
         price=(4, 22), descriptors=["Salon", "Glossy", "Professional", "Everyday"],
         benefits=["smooth application with a wide brush", "salon results at home",
                   "two coats give full coverage"],
         about="A nail polish for a salon finish at home."),
    dict(category="beauty", query="body wash", path="Personal Care › Bath & Bathing Accessories › Body Washes",
         noun="body wash", titles=["Body Wash", "Shower Gel", "Foaming Body Wash"],
         attributes=["dry skin", "natural ingredients", "sulfate free", "shea butter", "gentle formula",
                     "paraben free"],
         options={"scent": ["eucalyptus spearmint", "oatmeal honey", "lavender chamomile", "sandalwood",
                            "citrus grove"],
                  "size": ["12 fl oz (pack of 1)", "16 fl oz (pack of 1)", "16 fl oz (pack of 3)"]},
         price=(5, 25), descriptors=["Nourishing", "Refreshing", "Daily", "Spa"],
         benefits=["rich lather that rinses clean", "leaves skin soft and smooth", "made for the whole family"],
         about="A body wash that cleans without stripping the skin."),
    dict(category="electronics", query="wireless earbuds",
         path="Headphones, Earbuds & Accessories › Earbud Headphones",
         noun="pair of wireless earbuds", titles=["Wireless Earbuds", "Bluetooth Earbuds", "True Wireless Earbuds"],
         attributes=["noise cancelling", "water resistant", "long battery life", "fast charging",
                     "bluetooth 5.3", "built in microphone", "wireless charging case"],
         options={"color": ["matte black", "white", "navy blue", "rose gold", "forest green"]},
         price=(18, 140), descriptors=["Compact", "Sport", "Premium", "Everyday"],
         benefits=["secure fit for workouts and commutes", "clear calls in busy places",
                   "pairs instantly when you open the case"],
         about="Wireless earbuds with clear sound in a pocket sized case."),
    dict(category="electronics", query="phone case",
         path="Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases",
         noun="phone case", titles=["Phone Case", "Protective Phone Case", "Slim Phone Case"],
         attributes=["shockproof", "slim fit", "magnetic charging", "raised edges", "anti yellowing",
                     "screen protector included"],
         options={"color": ["clear", "black", "sierra blue", "pink sand", "olive", "purple"],
                  "size": ["iphone 14", "iphone 14 pro", "iphone 15", "iphone 15 pro max", "galaxy s23"]},
         price=(8, 35), descriptors=["Rugged", "Minimal", "Heavy Duty", "Ultra Thin"],
         benefits=["protects against everyday drops", "precise cutouts for buttons and ports",
                   "grippy texture that stays in hand"],
         about="A protective case that keeps your phone safe without bulk."),
    dict(category="electronics", query="hdmi cable",
         path="Computers & Accessories › Cables & Accessories › HDMI Cables",
         noun="hdmi cable", titles=["HDMI Cable", "HDMI 2.1 Cable", "HDMI Cord"],
         attributes=["8k resolution", "braided nylon", "gold plated", "high speed", "ethernet support",
                     "dolby atmos"],
         options={"size": ["3 feet", "6 feet", "10 feet", "15 feet"],
                  "style": ["1 pack", "2 pack", "3 pack"]},
         price=(6, 30), descriptors=["Certified", "Durable", "Ultra", "Premium"],
         benefits=["works with tvs, consoles and laptops", "tested for thousands of bends",
                   "stable picture with no flicker"],
         about="An hdmi cable for home theaters, consoles and monitors."),
    dict(category="electronics", query="bluetooth speaker",
         path="Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers",
         noun="bluetooth speaker", titles=["Bluetooth Speaker", "Portable Speaker", "Wireless Speaker"],
         attributes=["waterproof", "deep bass", "20 hour playtime", "stereo pairing", "built in microphone",
                     "usb c charging"],
         options={"color": ["black", "ocean blue", "red", "gray", "teal"]},
         price=(20, 160), descriptors=["Rugged", "Mini", "Outdoor", "Party"],
         benefits=["room filling sound from a small body", "clips onto a bag or bike",
                   "takes calls hands free"],
         about="A portable speaker for the beach, the park and the backyard."),
    dict(category="electronics", query="usb c charger",
         path="Cell Phones & Accessories › Chargers & Power Adapters › Wall Chargers",
         noun="usb c charger", titles=["USB C Charger", "Wall Charger", "Charger Block"],
         attributes=["gan technology", "foldable plug", "dual port", "power delivery", "overheat protection",
                     "compact design"],
         options={"style": ["20w", "35w", "65w", "100w"], "color": ["white", "black"]},
         price=(10, 60), descriptors=["Fast", "Travel", "Compact", "Smart"],
         benefits=["charges a phone to half in about thirty minutes", "safe for laptops, tablets and phones",
                   "fits easily in a pocket"],
         about="A wall charger that powers phones, tablets and laptops."),
    dict(category="electronics", query="wireless mouse",
         path="Computers & Accessories › Computer Accessories & Peripherals › Mice",
         noun="wireless mouse", titles=["Wireless Mouse", "Ergonomic Mouse", "Silent Wireless Mouse"],
         attributes=["silent click", "ergonomic design", "rechargeable battery", "adjustable dpi",
                     "bluetooth and usb receiver", "ambidextrous"],
         options={"color": ["black", "space gray", "white", "midnight blue", "pink"]},
         price=(9, 70), descriptors=["Slim", "Quiet", "Precision", "Portable"],
         benefits=["smooth tracking on most surfaces", "sleeps automatically to save power",
                   "comfortable for long work days"],
         about="A wireless mouse for the office, home and travel."),
    dict(category="electronics", query="memory card", path="Computers & Accessories › Data Storage › Memory Cards",
         noun="memory card", titles=["microSD Card", "Memory Card", "microSDXC Card"],
         attributes=["4k video", "adapter included", "high endurance", "class 10", "a2 app performance",
                     "waterproof"],
         options={"size": ["32gb", "64gb", "128gb", "256gb", "512gb"]},
         price=(7, 60), descriptors=["Extreme", "Pro", "Select", "Plus"],
         benefits=["read speeds up to 160 megabytes per second", "built for cameras, drones and handhelds",
                   "backed by a limited lifetime warranty"],
         about="A memory card for phones, cameras and game consoles."),
    dict(category="fashion", query="men's t-shirt", path="Men › Clothing › Shirts › T-Shirts",
         noun="men's t-shirt", titles=["Men's T-Shirt", "Men's Crew Neck Tee", "Men's Cotton T-Shirt"],
         attributes=["100% cotton", "machine wash", "regular fit", "short sleeve", "moisture wicking",
                     "tagless collar"],
         options={"color": ["heather gray", "navy", "black", "olive green", "burgundy", "white"],
                  "size": ["small", "medium", "large", "x-large", "xx-large"]},
         price=(8, 30), descriptors=["Classic", "Essential", "Soft", "Heavyweight"],
         benefits=["soft fabric that keeps its shape after washing", "easy to layer or wear alone",
                   "comfortable all day"],
         about="A t-shirt that goes with jeans, shorts and everything in between."),
    dict(category="fashion", query="women's running shoes", path="Women › Shoes › Athletic › Running",
         noun="pair of women's running shoes", titles=["Women's Running Shoes", "Women's Road Running Sneakers",
                                                       "Women's Athletic Trainers"],
         attributes=["breathable mesh", "arch support", "non slip", "memory foam", "lightweight",
                     "rubber sole"],
         options={"color": ["black white", "pink", "gray", "aqua", "lavender"],
                  "size": ["6", "6.5", "7", "7.5", "8", "8.5", "9", "10"]},
         price=(25, 120), descriptors=["Cushioned", "Everyday", "Trail", "Performance"],
         benefits=["springy cushioning for every mile", "secure fit from heel to toe",
                   "easy to clean after a muddy run"],
         about="Running shoes for daily training, walking and the gym."),
    dict(category="fashion", query="hoodie", path="Men › Clothing › Fashion Hoodies & Sweatshirts",
         noun="hoodie", titles=["Pullover Hoodie", "Zip Up Hoodie", "Fleece Hoodie"],
         attributes=["fleece lined", "kangaroo pocket", "drawstring hood", "relaxed fit", "machine wash",
                     "cotton blend"],
         options={"color": ["charcoal", "navy", "forest green", "maroon", "black", "oatmeal"],
                  "size": ["small", "medium", "large", "x-large", "xx-large"]},
         price=(18, 60), descriptors=["Cozy", "Midweight", "Classic", "Soft"],
         benefits=["warm without feeling heavy", "ribbed cuffs keep the cold out", "holds its color wash after wash"],
         about="A hoodie for cool mornings and lazy weekends."),
    dict(category="fashion", query="yoga pants", path="Women › Clothing › Active › Active Pants › Leggings",
         noun="pair of yoga pants", titles=["Yoga Pants", "Yoga Leggings", "Workout Leggings"],
         attributes=["high waist", "squat proof", "side pockets", "four way stretch", "tummy control",
                     "quick drying"],
         options={"color": ["black", "dark gray", "navy", "dusty rose", "olive"],
                  "size": ["x-small", "small", "medium", "large", "x-large"]},
         price=(14, 55), descriptors=["Buttery Soft", "Athletic", "Studio", "Everyday"],
         benefits=["moves with you through every pose", "stays in place during runs",
                   "soft enough to lounge in"],
         about="Leggings made for yoga, running and everyday wear."),
    dict(category="fashion", query="baseball cap", path="Men › Accessories › Hats & Caps › Baseball Caps",
         noun="baseball cap", titles=["Baseball Cap", "Dad Hat", "Adjustable Baseball Hat"],
         attributes=["adjustable strap", "washed cotton", "low profile", "curved brim", "breathable",
                     "sun protection"],
         options={"color": ["khaki", "black", "navy", "stone", "red", "light blue"]},
         price=(8, 30), descriptors=["Vintage", "Classic", "Everyday", "Outdoor"],
         benefits=["broken in feel from the first wear", "fits most heads", "keeps the sun out of your eyes"],
         about="A cap for sunny days, errands and ball games."),
    dict(category="fashion", query="wool socks", path="Men › Clothing › Socks › Casual Socks",
         noun="pack of wool socks", titles=["Wool Socks", "Wool Crew Socks", "Wool Boot Socks"],
         attributes=["merino wool", "cushioned sole", "moisture wicking", "odor resistant", "reinforced heel",
                     "seamless toe"],
         options={"color": ["gray", "brown", "multicolor", "black", "green"],
                  "size": ["medium", "large", "x-large"]},
         price=(10, 40), descriptors=["Hiking", "Thermal", "Everyday", "Trail"],
         benefits=["warm in winter and cool in summer", "no itch against the skin",
                   "holds up to long days on the trail"],
         about="Warm socks for hiking, camping and cold days."),
    dict(category="grocery", query="green tea", path="Beverages › Coffee, Tea & Cocoa › Tea › Green Tea",
         noun="box of green tea", titles=["Green Tea", "Green Tea Bags", "Loose Leaf Green Tea"],
         attributes=["usda organic", "non gmo", "caffeine free", "individually wrapped", "gluten free",
                     "fair trade"],
         options={"flavor": ["jasmine", "peach", "mint", "lemon ginger", "pure green", "pomegranate"],
                  "size": ["20 count (pack of 1)", "40 count (pack of 1)", "20 count (pack of 6)"]},
         price=(4, 30), descriptors=["Premium", "Classic", "Imperial", "Daily"],
         benefits=["smooth taste with no bitterness", "steeps in three minutes", "packed fresh to lock in flavor"],
         about="A green tea with a light, smooth taste."),
    dict(category="grocery", query="protein bar", path="Snack Foods › Bars › Protein Bars",
         noun="box of protein bars", titles=["Protein Bars", "Protein Bar", "High Protein Snack Bars"],
         attributes=["20g protein", "low sugar", "gluten free", "keto friendly", "plant based", "no artificial"],
         options={"flavor": ["chocolate chip", "peanut butter", "cookies and cream", "salted caramel",
                             "birthday cake"],
                  "size": ["12 count", "15 count", "24 count"]},
         price=(12, 45), descriptors=["Chewy", "Crunchy", "Whole Food", "Energy"],
         benefits=["a filling snack between meals", "easy to pack for the gym or office",
                   "tastes like a treat"],
         about="Protein bars for breakfast on the go and post workout snacks."),
    dict(category="grocery", query="coffee beans",
         path="Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans",
         noun="bag of coffee beans", titles=["Whole Bean Coffee", "Coffee Beans", "Arabica Coffee Beans"],
         attributes=["single origin", "fair trade", "usda organic", "low acid", "fresh roasted",
                     "kosher certified"],
         options={"flavor": ["light roast", "medium roast", "dark roast", "espresso roast", "french roast"],
                  "size": ["12 ounce (pack of 1)", "2 pound (pack of 1)", "12 ounce (pack of 2)"]},
         price=(9, 40), descriptors=["Smooth", "Bold", "Artisan", "Small Batch"],
         benefits=["notes of chocolate and toasted nuts", "great for drip, pour over or french press",
                   "roasted in small batches"],
         about="Whole bean coffee roasted for a rich, balanced cup."),
    dict(category="grocery", query="mixed nuts", path="Snack Foods › Nuts & Seeds › Mixed Nuts",
         noun="jar of mixed nuts", titles=["Mixed Nuts", "Nut Medley", "Roasted Nut Mix"],
         attributes=["lightly salted", "resealable bag", "high protein", "non gmo", "vegan", "kosher certified"],
         options={"flavor": ["sea salt", "honey roasted", "unsalted", "smoked", "chili lime"],
                  "size": ["16 ounce (pack of 1)", "2.5 pound (pack of 1)", "8 ounce (pack of 4)"]},
         price=(7, 35), descriptors=["Deluxe", "Premium", "Classic", "Party"],
         benefits=["cashews, almonds, pecans and pistachios", "a crunchy snack for home or work",
                   "no peanuts in the mix"],
         about="A nut mix for snacking, baking and entertaining."),
    dict(category="grocery", query="hot sauce", path="Pantry Staples › Condiments & Salad Dressings › Hot Sauce",
         noun="bottle of hot sauce", titles=["Hot Sauce", "Habanero Hot Sauce", "Chili Sauce"],
         attributes=["small batch", "gluten free", "no sugar added", "vegan", "low sodium", "keto friendly"],
         options={"flavor": ["original", "garlic", "mango habanero", "chipotle", "ghost pepper"],
                  "size": ["5 fl oz (pack of 1)", "5 fl oz (pack of 3)", "10 fl oz (pack of 1)"]},
         price=(5, 28), descriptors=["Fiery", "Craft", "Smoky", "Classic"],
         benefits=["great on tacos, eggs and wings", "real peppers and no fillers",
                   "a slow heat that builds"],
         about="A hot sauce with real flavor behind the heat."),
    dict(category="grocery", query="dark chocolate", path="Snack Foods › Chocolate & Candy › Chocolate Bars",
         noun="dark chocolate bar", titles=["Dark Chocolate Bar", "Dark Chocolate", "Organic Dark Chocolate Bars"],
         attributes=["fair trade", "dairy free", "72% cacao", "non gmo", "low sugar", "usda organic"],
         options={"flavor": ["sea salt", "almond", "orange", "mint", "raspberry", "plain"],
                  "size": ["3 ounce (pack of 1)", "3 ounce (pack of 6)", "1.4 ounce (pack of 12)"]},
         price=(4, 36), descriptors=["Rich", "Smooth", "Single Origin", "Artisan"],
         benefits=["a deep, rich cocoa taste", "made with only a few ingredients", "perfect for sharing"],
         about="A dark chocolate bar made with ethically sourced cocoa."),
    dict(category="home", query="throw pillow cover",
         path="Home Décor Products › Decorative Pillows, Inserts & Covers › Throw Pillow Covers",
         noun="set of throw pillow covers", titles=["Throw Pillow Covers", "Decorative Pillow Covers",
                                                    "Pillow Cover Set"],
         attributes=["hidden zipper", "machine washable", "soft velvet", "set of 2", "linen blend",
                     "farmhouse style"],
         options={"color": ["mustard yellow", "sage green", "cream", "navy blue", "terracotta", "gray"],
                  "size": ["16 x 16 inch", "18 x 18 inch", "20 x 20 inch", "12 x 20 inch"]},
         price=(9, 35), descriptors=["Cozy", "Modern", "Boho", "Classic"],
         benefits=["adds color to a couch or bed", "sturdy seams that last", "inserts not included"],
         about="Pillow covers that refresh a room in minutes."),
    dict(category="home", query="bath towel set", path="Bath › Towels › Bath Towels",
         noun="bath towel set", titles=["Bath Towel Set", "Cotton Towel Set", "Bath Towels"],
         attributes=["100% cotton", "highly absorbent", "quick dry", "hotel quality", "oeko tex certified",
                     "lint free"],
         options={"color": ["white", "gray", "navy", "sage", "blush", "charcoal"],
                  "size": ["2 piece", "4 piece", "6 piece", "8 piece"]},
         price=(18, 70), descriptors=["Plush", "Luxury", "Everyday", "Spa"],
         benefits=["soft and fluffy even after many washes", "made with long staple fibers",
                   "generously sized for comfort"],
         about="Towels that feel like a hotel stay at home."),
    dict(category="home", query="office chair",
         path="Furniture › Home Office Furniture › Home Office Chairs › Home Office Desk Chairs",
         noun="office chair", titles=["Office Chair", "Desk Chair", "Home Office Chair"],
         attributes=["lumbar support", "adjustable height", "mesh back", "padded armrests", "360 swivel",
                     "easy assembly"],
         options={"color": ["black", "gray", "white", "blue"]},
         price=(60, 260), descriptors=["Ergonomic", "Executive", "Task", "Mid Back"],
         benefits=["supports good posture through long work days", "rolls smoothly on carpet and hard floors",
                   "holds up to 300 pounds"],
         about="A desk chair built for long hours of comfortable work."),
    dict(category="home", query="table lamp", path="Lighting & Ceiling Fans › Lamps & Shades › Table Lamps",
         noun="table lamp", titles=["Table Lamp", "Bedside Lamp", "Desk Lamp"],
         attributes=["usb charging port", "touch control", "dimmable", "bulb included", "fabric shade",
                     "three way switch"],
         options={"color": ["brass", "matte black", "white", "brushed nickel"],
                  "style": ["single", "set of 2"]},
         price=(18, 90), descriptors=["Modern", "Mid Century", "Minimalist", "Farmhouse"],
         benefits=["warm light for reading at night", "a sturdy base that will not tip",
                   "fits on a nightstand or desk"],
         about="A lamp for bedrooms, living rooms and home offices."),
    dict(category="home", query="bookshelf", path="Furniture › Living Room Furniture › Bookcases",
         noun="bookshelf", titles=["Bookshelf", "Bookcase", "Open Shelf Bookcase"],
         attributes=["solid wood", "easy assembly", "anti tip kit", "adjustable shelves", "industrial style",
                     "space saving"],
         options={"color": ["walnut", "white", "black", "rustic brown", "natural oak"],
                  "size": ["3 tier", "4 tier", "5 tier"]},
         price=(35, 190), descriptors=["Modern", "Rustic", "Tall", "Classic"],
         benefits=["holds books, plants and photos", "sturdy frame that does not wobble",
                   "fits in small spaces"],
         about="A bookshelf for living rooms, bedrooms and offices."),
    dict(category="home", query="scented candle",
         path="Home Décor Products › Candles & Holders › Candles › Jar Candles",
         noun="scented candle", titles=["Scented Candle", "Soy Candle", "Jar Candle"],
         attributes=["soy wax", "lead free wick", "long burning", "hand poured", "gift ready", "natural"],
         options={"scent": ["vanilla bean", "fresh linen", "sea salt orchid", "pumpkin spice", "lavender",
                            "fir balsam"],
                  "size": ["8 oz", "14.5 oz", "22 oz"]},
         price=(9, 40), descriptors=["Luxury", "Aromatherapy", "Cozy", "Classic"],
         benefits=["fills a room with fragrance", "clean, even burn", "a glass jar you can reuse"],
         about="A candle that makes a room feel warm and calm."),
]


def _title_case(text: str) -> str:
    return " ".join(w if any(c.isdigit() for c in w) else w[:1].upper() + w[1:] for w in text.split())


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        asin = "B0" + rng.choice("6789") + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
                                                   for _ in range(7))
        if asin not in taken:
            taken.add(asin)
            return asin


def _check_vocabulary() -> None:
    # Distinct attributes (and non-size option values) must not fuzzy-match each other,
    # or a wrong choice would score as right; a descriptor must not repeat a title's word.
    for kind in TYPES:
        for descriptor in kind["descriptors"]:
            for title in kind["titles"]:
                assert not set(descriptor.lower().split()) & set(title.lower().split()), (descriptor, title)
        groups = [kind["attributes"]] + [v for k, v in kind["options"].items() if k != "size"]
        for values in groups:
            for a, b in combinations(values, 2):
                assert fuzz.token_set_ratio(a, b) <= 85, (kind["query"], a, b)


def make_product(kind: dict, rng: random.Random, taken: set[str]) -> dict:
    brand = rng.choice(BRANDS[kind["category"]])
    attributes = rng.sample(kind["attributes"], rng.choice([3, 3, 4]))
    options = {}
    for name, values in kind["options"].items():
        chosen = set(rng.sample(values, rng.randint(2, min(len(values), 5))))
        options[name] = [v for v in values if v in chosen]
    title = (f"{brand} {rng.choice(kind['descriptors'])} {rng.choice(kind['titles'])}, "
             + ", ".join(_title_case(a) for a in attributes[:2]))
    benefits = rng.sample(kind["benefits"], len(kind["benefits"]))
    bullets = [rng.choice(BULLETS).format(A=a.upper(), benefit=benefits[i % len(benefits)])
               for i, a in enumerate(attributes)]
    description = f"{title}. {kind['about']} {brand} stands behind every {kind['titles'][0].lower()} it sells."
    price = round(round(rng.uniform(*kind["price"])) - rng.choice([0.01, 0.05, 0.51]), 2)
    reviews = [{"title": rng.choice(REVIEW_TITLES), "score": rng.randint(3, 5),
                "body": rng.choice(REVIEW_BODIES).format(noun=kind["noun"].split(" of ")[-1])}
               for _ in range(rng.choice([0, 1, 2, 2]))]
    rating = round(sum(r["score"] for r in reviews) / len(reviews), 1) if reviews else "N.A."
    product = {
        "asin": _asin(rng, taken), "category": kind["category"], "query": kind["query"],
        "product_category": f"{CATEGORIES[kind['category']]} › {kind['path']}",
        "Title": title, "Description": description, "BulletPoints": bullets,
        "Price": f"${price}", "pricing": [price], "options": options, "Attributes": attributes,
        "Rating": rating, "Reviews": reviews,
    }
    texts = " ".join([title, description, *bullets]).lower()
    for other in kind["attributes"]:
        assert (other in attributes) == (other in texts), (title, other)
    for values in kind["options"].values():
        assert not [v for v in values if v in texts], (title, [v for v in values if v in texts])
    return product


def make_goal(product: dict, kind: dict, rng: random.Random) -> dict:
    attributes = rng.sample(product["Attributes"], rng.choice([1, 2, 2, 3]))
    goal_options = {name: rng.choice(values) for name, values in product["options"].items()}
    bounds = [p for p in PRICE_RANGE if p > product["pricing"][0]][:4]
    price_upper = sorted(rng.sample(bounds, 2))[1]
    attrs = attributes[0] if len(attributes) == 1 else ", ".join(attributes[:-1]) + " and " + attributes[-1]
    options = "".join(", " + OPTION_PHRASES[name].format(v=value) for name, value in goal_options.items())
    template = rng.choice(INSTRUCTIONS)
    first = attrs if "{article} {attrs}" in template else kind["noun"]
    text = template.format(article="an" if first[0] in "aeiou" else "a", attrs=attrs, noun=kind["noun"],
                           options=options, price=f"{price_upper:.2f}")
    return {
        "asin": product["asin"], "category": product["category"], "query": product["query"],
        "name": product["Title"], "product_category": product["product_category"],
        "instruction_text": text, "attributes": attributes, "price_upper": price_upper,
        "goal_options": goal_options,
    }


def generate() -> tuple[list[dict], dict[str, list[dict]]]:
    _check_vocabulary()
    rng = random.Random(SEED)
    taken: set[str] = set()
    products, kinds = [], []
    for kind in TYPES:
        for _ in range(PRODUCTS_PER_TYPE):
            products.append(make_product(kind, rng, taken))
            kinds.append(kind)
    order = list(range(len(products)))
    rng.shuffle(order)
    products = [products[i] for i in order]
    kinds = [kinds[i] for i in order]
    picks = rng.sample(range(len(products)), sum(GOALS.values()))
    goals = [make_goal(products[i], kinds[i], rng) for i in picks]
    return products, {"train": goals[:GOALS["train"]], "test": goals[GOALS["train"]:]}


def _dump(records: list[dict]) -> str:
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records) + "\n]\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    products, goals = generate()
    out.mkdir(parents=True, exist_ok=True)
    (out / "products.json").write_text(_dump(products), encoding="utf-8")
    splits = "{\n" + ",\n".join(f'"{s}": {_dump(g).rstrip()}' for s, g in goals.items()) + "\n}\n"
    (out / "goals.json").write_text(splits, encoding="utf-8")
    print(f"{len(products)} products, " + ", ".join(f"{len(g)} {s}" for s, g in goals.items())
          + f" instructions -> {out}")


if __name__ == "__main__":
    main()
