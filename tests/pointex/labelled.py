# ruff: noqa: E501 -- the cellar tables are data, one wine a line
"""A labelled set for the cellar matching engine: a wine bar's cellar, and till labels with
their truth.

The cellar holds realistic wines (mostly French): several vintages of one wine, several
cuvées of one producer, one name from two producers, one name in two colours, champagnes
without vintage, magnums and halves, and one wine entered twice under two spellings.
``ABSENT`` wines are not in the cellar: their labels must be answered ``no``, and many share
a producer, an appellation or most of a name with a cellar wine.

Labels are made the way bar staff type them (:func:`till_label`): capitals without accents,
house abbreviations, the vintage as ``2015``, ``15`` or ``'15``, format words, words
shortened or dropped, the odd typo, and a cut at the till's label width. Their truth follows
what the label shows (a vintage cut off is not shown), by the rules in
:mod:`stockbridge.integrations.pointex.matching`. Hand-written labels add what a generator
does not think of, including drinks that are not wine.

Everything is seeded. :func:`tuning` is for choosing the engine's constants; the tests judge
:func:`held_out`, made with another seed and the other half of the hand-written labels.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from stockbridge.integrations.pointex.matching import Answer, Suggestion


@dataclass(frozen=True)
class Wine:
    key: str
    name: str
    producer: str
    appellation: str
    colour: str
    vintages: tuple[int | None, ...]
    volumes: tuple[float, ...] = (75.0,)
    same_as: str | None = None
    """The wine this entry duplicates (the cellar has it twice under two spellings)."""


def _wines(table: str) -> tuple[Wine, ...]:
    wines = []
    for line in table.strip().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        key, name, producer, appellation, colour, vintages = cells[:6]
        volumes = (
            tuple(float(v) for v in cells[6].split()) if len(cells) > 6 and cells[6] else (75.0,)
        )
        same_as = cells[7] if len(cells) > 7 and cells[7] else None
        years = tuple(None if v == "NV" else int(v) for v in vintages.split())
        wines.append(Wine(key, name, producer, appellation, colour, years, volumes, same_as))
    return tuple(wines)


# key | name | producer | appellation | colour | vintages | volumes | same as
CELLAR = _wines("""
margaux | Château Margaux | Château Margaux | Margaux | rouge | 2010 2015 2016 2018 | 75 150
pavillon-rouge | Pavillon Rouge du Château Margaux | Château Margaux | Margaux | rouge | 2015 2017
pavillon-blanc | Pavillon Blanc du Château Margaux | Château Margaux | Bordeaux | blanc | 2019
palmer | Château Palmer | Château Palmer | Margaux | rouge | 2012 2014 2016
alter-ego | Alter Ego de Palmer | Château Palmer | Margaux | rouge | 2016 2018 2019
lafite | Château Lafite Rothschild | Domaines Barons de Rothschild | Pauillac | rouge | 2005 2010 2016
carruades | Carruades de Lafite | Domaines Barons de Rothschild | Pauillac | rouge | 2014 2017
mouton | Château Mouton Rothschild | Baron Philippe de Rothschild | Pauillac | rouge | 2009 2015
pichon-baron | Château Pichon Longueville Baron | AXA Millésimes | Pauillac | rouge | 2014 2016 2019
pichon-comtesse | Château Pichon Longueville Comtesse de Lalande | Louis Roederer | Pauillac | rouge | 2015 2016
lynch-bages | Château Lynch-Bages | Famille Cazes | Pauillac | rouge | 2012 2015 2018 | 75 150
las-cases | Château Léoville Las Cases | Domaines Delon | Saint-Julien | rouge | 2011 2014
leoville-barton | Château Léoville Barton | Famille Barton | Saint-Julien | rouge | 2015 2019
poyferre | Château Léoville Poyferré | Famille Cuvelier | Saint-Julien | rouge | 2016
langoa | Château Langoa Barton | Famille Barton | Saint-Julien | rouge | 2017 2018
talbot | Château Talbot | Château Talbot | Saint-Julien | rouge | 2015 2018 2020
talbot-dup | Ch. Talbot | | St-Julien | rouge | 2015 | 75 | talbot
gruaud | Château Gruaud Larose | | Saint-Julien | rouge | 2010 2016
cos | Château Cos d'Estournel | | Saint-Estèphe | rouge | 2016
montrose | Château Montrose | | Saint-Estèphe | rouge | 2010 2015
calon | Château Calon Ségur | | Saint-Estèphe | rouge | 2014 2018
haut-brion | Château Haut-Brion | Domaine Clarence Dillon | Pessac-Léognan | rouge | 2008 2016
haut-brion-blanc | Château Haut-Brion Blanc | Domaine Clarence Dillon | Pessac-Léognan | blanc | 2017
mission | Château La Mission Haut-Brion | Domaine Clarence Dillon | Pessac-Léognan | rouge | 2012
pape-clement | Château Pape Clément | Bernard Magrez | Pessac-Léognan | rouge | 2015 2019
shl | Château Smith Haut Lafitte | | Pessac-Léognan | rouge | 2016 2018
shl-blanc | Château Smith Haut Lafitte Blanc | | Pessac-Léognan | blanc | 2019 2020
chevalier | Domaine de Chevalier | | Pessac-Léognan | rouge | 2014 2016
chevalier-blanc | Domaine de Chevalier Blanc | | Pessac-Léognan | blanc | 2017
cheval-blanc | Château Cheval Blanc | | Saint-Émilion Grand Cru | rouge | 2010 2016
angelus | Château Angélus | | Saint-Émilion Grand Cru | rouge | 2015
figeac | Château Figeac | | Saint-Émilion Grand Cru | rouge | 2016 2019
canon | Château Canon | | Saint-Émilion Grand Cru | rouge | 2018
pavie | Château Pavie | | Saint-Émilion Grand Cru | rouge | 2014
pavie-macquin | Château Pavie Macquin | | Saint-Émilion Grand Cru | rouge | 2016
petrus | Petrus | | Pomerol | rouge | 2011
evangile | Château L'Évangile | | Pomerol | rouge | 2015
vcc | Vieux Château Certan | | Pomerol | rouge | 2014 2017
conseillante | Château La Conseillante | | Pomerol | rouge | 2016
yquem | Château d'Yquem | | Sauternes | blanc | 2009 2015 | 75 37.5
suduiraut | Château Suduiraut | | Sauternes | blanc | 2015
climens | Château Climens | | Barsac | blanc | 2014
coutet | Château Coutet | | Barsac | blanc | 2016 | 37.5
chasse-spleen | Château Chasse-Spleen | | Moulis-en-Médoc | rouge | 2015 2016 2018
sociando | Château Sociando-Mallet | | Haut-Médoc | rouge | 2014 2016
lagune | Château La Lagune | | Haut-Médoc | rouge | 2015
potensac | Château Potensac | | Médoc | rouge | 2016
reynon | Château Reynon | Denis Dubourdieu | Cadillac Côtes de Bordeaux | rouge | 2018 2019
reynon-blanc | Château Reynon Blanc | Denis Dubourdieu | Bordeaux | blanc | 2021
bx-sup | Bordeaux Supérieur | Château Tour de Mirambeau | Bordeaux Supérieur | rouge | 2019 2020
fevre-chablis | Chablis | Domaine William Fèvre | Chablis | blanc | 2020 2021 2022
fevre-mdt | Chablis Premier Cru Montée de Tonnerre | Domaine William Fèvre | Chablis Premier Cru | blanc | 2019 2020
fevre-clos | Chablis Grand Cru Les Clos | Domaine William Fèvre | Chablis Grand Cru | blanc | 2018 2019
raveneau-clos | Chablis Grand Cru Les Clos | Domaine François Raveneau | Chablis Grand Cru | blanc | 2017
vaillons | Chablis 1er Cru Vaillons | Domaine Billaud-Simon | Chablis Premier Cru | blanc | 2020
leflaive-puligny | Puligny-Montrachet | Domaine Leflaive | Puligny-Montrachet | blanc | 2018 2019 2020
pucelles | Puligny-Montrachet 1er Cru Les Pucelles | Domaine Leflaive | Puligny-Montrachet | blanc | 2017 2019
folatieres | Puligny-Montrachet 1er Cru Les Folatières | Domaine Leflaive | Puligny-Montrachet | blanc | 2018
leflaive-bourgogne | Bourgogne Blanc | Domaine Leflaive | Bourgogne | blanc | 2020 2021
roulot-meursault | Meursault | Domaine Roulot | Meursault | blanc | 2019
roulot-perrieres | Meursault 1er Cru Les Perrières | Domaine Roulot | Meursault | blanc | 2018
lafon-charmes | Meursault 1er Cru Les Charmes | Domaine des Comtes Lafon | Meursault | blanc | 2017 2019
corton-charlemagne | Corton-Charlemagne Grand Cru | Domaine Bonneau du Martray | Corton-Charlemagne | blanc | 2016 2018
morgeot-blanc | Chassagne-Montrachet 1er Cru Morgeot | Domaine Ramonet | Chassagne-Montrachet | blanc | 2019
morgeot-rouge | Chassagne-Montrachet 1er Cru Morgeot | Domaine Ramonet | Chassagne-Montrachet | rouge | 2018
mortet-gevrey | Gevrey-Chambertin Vieilles Vignes | Domaine Denis Mortet | Gevrey-Chambertin | rouge | 2017 2019
rousseau-gevrey | Gevrey-Chambertin | Domaine Armand Rousseau | Gevrey-Chambertin | rouge | 2018 2020
chambertin | Chambertin Grand Cru | Domaine Armand Rousseau | Chambertin | rouge | 2015
clos-vougeot | Clos de Vougeot Grand Cru | Domaine Méo-Camuzet | Clos de Vougeot | rouge | 2016
meo-vosne | Vosne-Romanée | Domaine Méo-Camuzet | Vosne-Romanée | rouge | 2018 2019
suchots | Vosne-Romanée 1er Cru Les Suchots | Domaine de l'Arlot | Vosne-Romanée | rouge | 2017
amoureuses | Chambolle-Musigny 1er Cru Les Amoureuses | Domaine Georges Roumier | Chambolle-Musigny | rouge | 2015
roumier-chambolle | Chambolle-Musigny | Domaine Georges Roumier | Chambolle-Musigny | rouge | 2018 2019
dujac-morey | Morey-Saint-Denis | Domaine Dujac | Morey-Saint-Denis | rouge | 2017 2018
clos-roche | Clos de la Roche Grand Cru | Domaine Dujac | Clos de la Roche | rouge | 2014
vaucrains | Nuits-Saint-Georges 1er Cru Les Vaucrains | Domaine Henri Gouges | Nuits-Saint-Georges | rouge | 2016
rugiens | Pommard 1er Cru Les Rugiens | Domaine de Courcel | Pommard | rouge | 2017
clos-chenes | Volnay 1er Cru Clos des Chênes | Domaine Michel Lafarge | Volnay | rouge | 2018
lafarge-bourgogne | Bourgogne Rouge | Domaine Michel Lafarge | Bourgogne | rouge | 2020 2021
bize-savigny | Savigny-lès-Beaune | Domaine Simon Bize | Savigny-lès-Beaune | rouge | 2019 2020
lafon-macon | Mâcon-Villages | Les Héritiers du Comte Lafon | Mâcon-Villages | blanc | 2021 2022
ferret-pouilly | Pouilly-Fuissé | Domaine J.A. Ferret | Pouilly-Fuissé | blanc | 2020
saint-veran | Saint-Véran | Domaine des Deux Roches | Saint-Véran | blanc | 2021 2022
villaine-aligote | Bourgogne Aligoté | Domaine A. et P. de Villaine | Bourgogne Aligoté | blanc | 2020 2021
foillard-py | Morgon Côte du Py | Jean Foillard | Morgon | rouge | 2019 2020 2021 | 75 150
foillard-corcelette | Morgon Cuvée Corcelette | Jean Foillard | Morgon | rouge | 2020
fleurie | Fleurie | Domaine Yvon Métras | Fleurie | rouge | 2021
moulin-a-vent | Moulin-à-Vent | Château des Jacques | Moulin-à-Vent | rouge | 2018
guigal-cdr | Côtes du Rhône | E. Guigal | Côtes du Rhône | rouge | 2019 2020
guigal-cdr-blanc | Côtes du Rhône Blanc | E. Guigal | Côtes du Rhône | blanc | 2021
brune-blonde | Côte-Rôtie Brune et Blonde | E. Guigal | Côte-Rôtie | rouge | 2017 2018
landonne | Côte-Rôtie La Landonne | E. Guigal | Côte-Rôtie | rouge | 2015
mouline | Côte-Rôtie La Mouline | E. Guigal | Côte-Rôtie | rouge | 2016
doriane | Condrieu La Doriane | E. Guigal | Condrieu | blanc | 2020
la-chapelle | Hermitage La Chapelle | Paul Jaboulet Aîné | Hermitage | rouge | 2015 2017
thalabert | Crozes-Hermitage Domaine de Thalabert | Paul Jaboulet Aîné | Crozes-Hermitage | rouge | 2019
graillot | Crozes-Hermitage | Domaine Alain Graillot | Crozes-Hermitage | rouge | 2019 2020
gonon | Saint-Joseph | Domaine Gonon | Saint-Joseph | rouge | 2018 2019
clape | Cornas | Domaine Auguste Clape | Cornas | rouge | 2017
beaucastel | Châteauneuf-du-Pape | Château de Beaucastel | Châteauneuf-du-Pape | rouge | 2016 2017 2019 | 75 150
beaucastel-rvv | Châteauneuf-du-Pape Roussanne Vieilles Vignes | Château de Beaucastel | Châteauneuf-du-Pape | blanc | 2019
telegraphe | Châteauneuf-du-Pape La Crau | Domaine du Vieux Télégraphe | Châteauneuf-du-Pape | rouge | 2018
pegau | Châteauneuf-du-Pape Cuvée Réservée | Domaine du Pegau | Châteauneuf-du-Pape | rouge | 2016 2019
rayas | Château Rayas | Emmanuel Reynaud | Châteauneuf-du-Pape | rouge | 2010
santa-duc | Gigondas | Domaine Santa Duc | Gigondas | rouge | 2018 2019
sang-cailloux | Vacqueyras | Domaine Le Sang des Cailloux | Vacqueyras | rouge | 2019
cairanne | Côtes du Rhône Villages Cairanne | Domaine Marcel Richaud | Cairanne | rouge | 2020 2021
tavel | Tavel | Château d'Aqueria | Tavel | rosé | 2022 2023
vacheron-blanc | Sancerre | Domaine Vacheron | Sancerre | blanc | 2021 2022
vacheron-rouge | Sancerre | Domaine Vacheron | Sancerre | rouge | 2020
cotat | Sancerre Les Monts Damnés | Domaine François Cotat | Sancerre | blanc | 2019
silex | Pouilly-Fumé Silex | Didier Dagueneau | Pouilly-Fumé | blanc | 2018 2019
pabiot | Pouilly-Fumé | Domaine Jonathan Pabiot | Pouilly-Fumé | blanc | 2022
coulee | Savennières Coulée de Serrant | Nicolas Joly | Savennières | blanc | 2017
huet-sec | Vouvray Le Haut-Lieu Sec | Domaine Huet | Vouvray | blanc | 2019 2020
huet-demi-sec | Vouvray Le Mont Demi-Sec | Domaine Huet | Vouvray | blanc | 2018
picasses | Chinon Les Picasses | Olga Raffault | Chinon | rouge | 2014 2015
rougeard | Saumur-Champigny Le Clos | Clos Rougeard | Saumur-Champigny | rouge | 2016
bourgueil | Bourgueil | Domaine de la Butte | Bourgueil | rouge | 2020
muscadet | Muscadet Sèvre et Maine sur Lie | Domaine de l'Écu | Muscadet | blanc | 2021 2022
pelle | Menetou-Salon | Domaine Henry Pellé | Menetou-Salon | blanc | 2022
sainte-hune | Riesling Clos Sainte Hune | Trimbach | Alsace | blanc | 2012 2014
frederic-emile | Riesling Cuvée Frédéric Émile | Trimbach | Alsace | blanc | 2013 2015
trimbach-riesling | Riesling | Trimbach | Alsace | blanc | 2020 2021
trimbach-vt | Gewurztraminer Vendanges Tardives | Trimbach | Alsace | blanc | 2015 | 37.5
zind-sgn | Pinot Gris Sélection de Grains Nobles | Domaine Zind-Humbrecht | Alsace | blanc | 2011 | 37.5
zind-brand | Riesling Grand Cru Brand | Domaine Zind-Humbrecht | Alsace Grand Cru | blanc | 2017
cremant | Crémant d'Alsace Brut | Dopff au Moulin | Crémant d'Alsace | blanc | NV
charles-reserve | Brut Réserve | Charles Heidsieck | Champagne | blanc | NV | 75 150
millenaires | Blanc des Millénaires | Charles Heidsieck | Champagne | blanc | 2007
moet-imperial | Brut Impérial | Moët & Chandon | Champagne | blanc | NV | 75 150 37.5
moet-rose | Rosé Impérial | Moët & Chandon | Champagne | rosé | NV
dom-perignon | Dom Pérignon | Moët & Chandon | Champagne | blanc | 2012 2013
dom-perignon-rose | Dom Pérignon Rosé | Moët & Chandon | Champagne | rosé | 2008
krug-gc | Krug Grande Cuvée | Krug | Champagne | blanc | NV | 75 150
krug-vintage | Krug Vintage | Krug | Champagne | blanc | 2006 2008
bollinger-sc | Bollinger Special Cuvée | Bollinger | Champagne | blanc | NV | 75 150 37.5
bollinger-ga | Bollinger La Grande Année | Bollinger | Champagne | blanc | 2012 2014
clicquot | Veuve Clicquot Brut Carte Jaune | Veuve Clicquot | Champagne | blanc | NV | 75 37.5
grande-dame | La Grande Dame | Veuve Clicquot | Champagne | blanc | 2012
ruinart-bdb | Ruinart Blanc de Blancs | Ruinart | Champagne | blanc | NV
dom-ruinart | Dom Ruinart Blanc de Blancs | Ruinart | Champagne | blanc | 2010
ruinart-rose | Ruinart Rosé | Ruinart | Champagne | rosé | NV
comtes | Comtes de Champagne Blanc de Blancs | Taittinger | Champagne | blanc | 2011 2013
taittinger-reserve | Brut Réserve | Taittinger | Champagne | blanc | NV
cristal | Cristal | Louis Roederer | Champagne | blanc | 2012 2014
collection | Collection 243 | Louis Roederer | Champagne | blanc | NV
billecart-rose | Brut Rosé | Billecart-Salmon | Champagne | rosé | NV
churchill | Cuvée Sir Winston Churchill | Pol Roger | Champagne | blanc | 2012
polroger-reserve | Brut Réserve | Pol Roger | Champagne | blanc | NV
selosse | Initial Blanc de Blancs | Jacques Selosse | Champagne | blanc | NV
egly | Brut Tradition Grand Cru | Egly-Ouriet | Champagne | blanc | NV
lp-rose | Cuvée Rosé | Laurent-Perrier | Champagne | rosé | NV
salon | Salon Le Mesnil Blanc de Blancs | Salon | Champagne | blanc | 2012 2013
tempier-rouge | Bandol | Domaine Tempier | Bandol | rouge | 2018 2019
tempier-rose | Bandol | Domaine Tempier | Bandol | rosé | 2022 2023
whispering | Whispering Angel | Château d'Esclans | Côtes de Provence | rosé | 2023
simone-rouge | Château Simone | | Palette | rouge | 2017
simone-blanc | Château Simone | | Palette | blanc | 2019
daumas | Mas de Daumas Gassac | | IGP Pays d'Hérault | rouge | 2016 2018
trevallon | Domaine de Trévallon | | IGP Alpilles | rouge | 2015 2017
cedre | Le Cèdre | Château du Cèdre | Cahors | rouge | 2016
montus | Château Montus | Alain Brumont | Madiran | rouge | 2015
hours | Jurançon Sec Cuvée Marie | Clos Uroulat | Jurançon | blanc | 2020
macle | Château-Chalon | Domaine Jean Macle | Château-Chalon | blanc | 2013 | 62
tissot | Arbois Savagnin | Domaine André et Mireille Tissot | Arbois | blanc | 2018
grange-peres | Domaine de la Grange des Pères | | IGP Pays d'Hérault | rouge | 2016 2017
hortus | Pic Saint-Loup Bergerie de l'Hortus | Domaine de l'Hortus | Pic Saint-Loup | rouge | 2020 2021
vitarele | Saint-Chinian Les Crès | Domaine Borie La Vitarèle | Saint-Chinian | rouge | 2019
tariquet | Classic Colombard Ugni Blanc | Domaine du Tariquet | Côtes de Gascogne | blanc | 2023
tignanello | Tignanello | Marchesi Antinori | Toscana IGT | rouge | 2018 2019
sassicaia | Sassicaia | Tenuta San Guido | Bolgheri Sassicaia | rouge | 2016 2018
sandrone | Barolo Aleste | Luciano Sandrone | Barolo | rouge | 2015 2016
monfortino | Barolo Monfortino Riserva | Giacomo Conterno | Barolo | rouge | 2013
cascina-francia | Barolo Cascina Francia | Giacomo Conterno | Barolo | rouge | 2016
biondi-santi | Brunello di Montalcino | Biondi-Santi | Brunello di Montalcino | rouge | 2015 2016
quintarelli | Amarone della Valpolicella Classico | Giuseppe Quintarelli | Amarone | rouge | 2012
ama | Chianti Classico Gran Selezione San Lorenzo | Castello di Ama | Chianti Classico | rouge | 2018
rioja-904 | Gran Reserva 904 | La Rioja Alta | Rioja | rouge | 2011 2015
ardanza | Viña Ardanza Reserva | La Rioja Alta | Rioja | rouge | 2016
vega | Único | Vega Sicilia | Ribera del Duero | rouge | 2010 2011
prum | Wehlener Sonnenuhr Riesling Kabinett | Joh. Jos. Prüm | Mosel | blanc | 2019 2020
pichler | Grüner Veltliner Smaragd Loibenberg | F.X. Pichler | Wachau | blanc | 2019
opus | Opus One | Opus One Winery | Napa Valley | rouge | 2016 2017
monte-bello | Monte Bello | Ridge Vineyards | Santa Cruz Mountains | rouge | 2014
cloudy-bay | Sauvignon Blanc | Cloudy Bay | Marlborough | blanc | 2022 2023
grange | Grange | Penfolds | South Australia | rouge | 2015
catena | Catena Alta Malbec | Catena Zapata | Mendoza | rouge | 2019
taylor-vintage | Vintage Port | Taylor's | Porto | rouge | 2011 2017
taylor-tawny | Tawny 20 ans | Taylor's | Porto | rouge | NV
tokaji | Tokaji Aszú 5 Puttonyos | Royal Tokaji | Tokaj | blanc | 2013 | 50
""")

ABSENT = _wines("""
latour | Château Latour | | Pauillac | rouge | 2010 2016
forts-latour | Les Forts de Latour | Château Latour | Pauillac | rouge | 2015
ducru | Château Ducru-Beaucaillou | | Saint-Julien | rouge | 2016
brane | Château Brane-Cantenac | | Margaux | rouge | 2018
rauzan | Château Rauzan-Ségla | | Margaux | rouge | 2016
giscours | Château Giscours | | Margaux | rouge | 2015
beychevelle | Château Beychevelle | | Saint-Julien | rouge | 2017
pontet | Château Pontet-Canet | | Pauillac | rouge | 2016
clinet | Château Clinet | | Pomerol | rouge | 2015
trotanoy | Château Trotanoy | | Pomerol | rouge | 2016
petit-cheval | Le Petit Cheval | Château Cheval Blanc | Saint-Émilion Grand Cru | rouge | 2016
rieussec | Château Rieussec | | Sauternes | blanc | 2015
la-tache | La Tâche Grand Cru | Domaine de la Romanée-Conti | La Tâche | rouge | 2015
clos-tart | Clos de Tart Grand Cru | | Clos de Tart | rouge | 2017
coche-meursault | Meursault | Domaine Coche-Dury | Meursault | blanc | 2017
raveneau-mdt | Chablis Premier Cru Montée de Tonnerre | Domaine François Raveneau | Chablis Premier Cru | blanc | 2018
chave | Hermitage | Domaine Jean-Louis Chave | Hermitage | rouge | 2015
mellot | Sancerre La Moussière | Alphonse Mellot | Sancerre | blanc | 2021
clos-mesnil | Krug Clos du Mesnil | Krug | Champagne | blanc | 2006
bollinger-rd | Bollinger R.D. | Bollinger | Champagne | blanc | 2007
jacquesson | Cuvée 745 | Jacquesson | Champagne | blanc | NV
cristal-rose | Cristal Rosé | Louis Roederer | Champagne | rosé | 2012
ornellaia | Ornellaia | Tenuta dell'Ornellaia | Bolgheri | rouge | 2016
gaja | Barbaresco | Gaja | Barbaresco | rouge | 2017
musar | Château Musar | | Bekaa Valley | rouge | 2012
grillet | Château-Grillet | | Château-Grillet | blanc | 2016
lapierre | Morgon | Marcel Lapierre | Morgon | rouge | 2020
saint-cosme | Gigondas | Château de Saint Cosme | Gigondas | rouge | 2019
combier | Crozes-Hermitage Clos des Grives | Domaine Combier | Crozes-Hermitage | rouge | 2019
vieux-donjon | Châteauneuf-du-Pape | Le Vieux Donjon | Châteauneuf-du-Pape | rouge | 2017
zind-riesling | Riesling Clos Windsbuhl | Domaine Zind-Humbrecht | Alsace | blanc | 2016
pavillon-latour | Pauillac de Latour | Château Latour | Pauillac | rouge | 2016
""")


@dataclass(frozen=True)
class Case:
    """One till label and what the engine should answer."""

    label: str
    answer: Answer
    items: frozenset[str] = frozenset()
    """Right items for a ``yes`` (more than one when the cellar holds duplicates)."""
    wines: frozenset[str] = frozenset()
    """Right wine keys for ``yes`` and ``almost``."""
    source: str = "generated"
    note: str = ""


@cache
def catalogue() -> pd.DataFrame:
    """The cellar: one item per wine, vintage and volume, with nullable Int64 vintages."""
    rows = []
    for wine in CELLAR:
        for vintage in wine.vintages:
            for volume in wine.volumes:
                rows.append(
                    {
                        "item": f"SOM-{len(rows) + 1:04d}",
                        "name": wine.name,
                        "producer": wine.producer or None,
                        "appellation": wine.appellation or None,
                        "colour": wine.colour or None,
                        "vintage": vintage,
                        "volume": volume,
                        "wine": wine.key,
                    }
                )
    frame = pd.DataFrame(rows)
    frame["vintage"] = frame["vintage"].astype("Int64")
    frame["volume"] = frame["volume"].astype("Float64")
    return frame


def items() -> pd.DataFrame:
    """The cellar as the engine gets it (without the truth's ``wine`` column)."""
    return catalogue().drop(columns=["wine"])


def wine_of() -> dict[str, str]:
    """Item id -> the wine key the truth uses (a duplicate entry maps to its original)."""
    same = {w.key: w.same_as or w.key for w in CELLAR}
    return {row.item: same[row.wine] for row in catalogue().itertuples()}


@cache
def _items_by_wine() -> dict[str, list[tuple[str, int | None, float]]]:
    found: dict[str, list[tuple[str, int | None, float]]] = {}
    for row in catalogue().itertuples():
        vintage = None if pd.isna(row.vintage) else int(row.vintage)
        found.setdefault(row.wine, []).append((row.item, vintage, float(row.volume)))
    return found


def truth(
    wine: Wine, vintage: int | None, volume: float | None, source: str, label: str, note: str = ""
) -> Case:
    """The case for a label showing ``wine`` with ``vintage`` (None: none shown) and
    ``volume`` (None: no format, a glass), by the matching module's rules."""
    if wine not in CELLAR:
        return Case(label, "no", source=source, note=note)
    key = wine.same_as or wine.key
    wines = frozenset({key, *(w.key for w in CELLAR if w.same_as == key)})
    by_wine = _items_by_wine()
    mine = [entry for k in sorted(wines) for entry in by_wine[k]]
    return resolve(label, by_wine[key], mine, wines, vintage, volume, source, note)


def resolve(
    label: str,
    own: Sequence[tuple[str, int | None, float]],
    mine: Sequence[tuple[str, int | None, float]],
    wines: frozenset[str],
    vintage: int | None,
    volume: float | None,
    source: str = "generated",
    note: str = "",
) -> Case:
    """The case for a label of a cellar wine whose items are ``own`` ((item, vintage,
    volume)), with ``mine`` its items and its duplicates' and ``wines`` their keys."""
    years = {v for _, v, _ in own if v is not None}
    if vintage is None:
        if any(v is None for _, v, _ in own):
            pick = [e for e in mine if e[1] is None]
        elif len(years) == 1:
            pick = [e for e in mine if e[1] == next(iter(years))]
        else:
            return Case(label, "almost", wines=wines, source=source, note=note)
    elif vintage in years:
        pick = [e for e in mine if e[1] == vintage]
    else:
        return Case(label, "almost", wines=wines, source=source, note=note)
    sized = [e for e in pick if e[2] == (volume or 75.0)]
    chosen = sized or pick
    return Case(label, "yes", frozenset(e[0] for e in chosen), wines, source, note)


# -- till labels ------------------------------------------------------------------------------

PHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SELECTION DE GRAINS NOBLES", ("SGN",)),
    ("VENDANGES TARDIVES", ("VT",)),
    ("COTES DU RHONE", ("CDR", "COTES RHONE", "CTES DU RHONE")),
    ("CHATEAUNEUF DU PAPE", ("CDP", "CHATEAUNEUF", "CH9DP")),
    ("BLANC DE BLANCS", ("BDB", "BL DE BL")),
    ("VIEILLES VIGNES", ("VV", "V.V.")),
    ("PREMIER CRU", ("1ER", "1ER CRU", "1ER CRU")),
    ("1ER CRU", ("1ER",)),
    ("GRAND CRU", ("GC", "GD CRU", "GRD CRU")),
    ("CHATEAU", ("CH", "CH", "CHT", "CH.", "CHAT")),
    ("DOMAINE", ("DOM", "DNE", "DOM.", "DMNE")),
    ("SAINTE", ("STE",)),
    ("SAINT", ("ST", "ST")),
    ("HAUT", ("HT",)),
    ("CUVEE", ("CUV", "CUV.")),
    ("RESERVE", ("RES", "RESERV")),
    ("VEUVE", ("VVE",)),
    ("GRANDE", ("GDE",)),
    ("ROUGE", ("RGE", "RG")),
    ("BLANC", ("BLC", "BL")),
    ("COTES", ("CTES",)),
)
"""How staff shorten words: the abbreviations of the brief and the obvious variants. Not
every one is known to the engine (``CH9DP``, ``DMNE``): labels are what staff type."""

STOP = ("DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "ET")
WEAK_LABEL_WORDS = {"CH", "CHT", "CH.", "CHAT", "DOM", "DNE", "DOM.", "DMNE", "CHATEAU", "DOMAINE"}
PRODUCER_NOISE = {"DOMAINE", "DOMAINES", "CHATEAU", "MAISON", "FAMILLE", "CLOS", "LES", "DES"}
KEYBOARD = "AZERTYUIOPQSDFGHJKLMWXCVBN"


def shout(text: str) -> str:
    """Capitals without accents, as a till prints them."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _producer_short(producer: str, name: str) -> list[str]:
    words = [w for w in shout(producer).replace("-", " ").split() if w not in PRODUCER_NOISE]
    words = [w for w in words if len(w.strip(".")) > 2 and w not in shout(name).split()]
    return words[-2:] if len(words) > 2 else words


def _typo(word: str, rng: random.Random) -> str:
    at = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.3:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind < 0.55:
        return word[:at] + word[at + 1 :]
    if kind < 0.75:
        return word[:at] + word[at] + word[at:]
    return word[:at] + rng.choice(KEYBOARD) + word[at + 1 :]


def _format_words(volume: float | None, rng: random.Random) -> tuple[str, bool]:
    """(format text, goes before the name)."""
    if volume == 150:
        return rng.choice(("MAG", "MAG", "MAGNUM", "1.5L", "150CL")), False
    if volume == 37.5:
        return rng.choice(("DEMI", "1/2", "37.5CL", "DEMI BTL", "37,5")), rng.random() < 0.3
    if volume == 50:
        return rng.choice(("50CL", "")), False
    pick = rng.random()
    if pick < 0.45:
        return "", False
    if pick < 0.75:
        return rng.choice(("BTL", "BOUT", "BT", "BTLE", "75CL")), False
    return rng.choice(("VERRE", "VRE", "GL", "VR", "VERRE")), rng.random() < 0.5


def till_label(
    rng: random.Random,
    name: str,
    producer: str = "",
    appellation: str = "",
    colour: str = "",
    vintage: int | None = None,
    volume: float | None = 75.0,
    *,
    colour_needed: bool = False,
    producer_needed: bool = False,
) -> tuple[str, int | None]:
    """A till label for a cellar wine, as staff would type it, and the vintage it shows
    (None when there is none or the till's width cut it off).

    ``colour_needed``/``producer_needed``: the cellar has the same name in another colour or
    from another producer, and staff who type labels know which words tell them apart.
    """
    words = shout(name).replace("’", "'").replace("'", " ").split()
    if rng.random() < 0.3:
        words = [part for w in words for part in w.split("-") if part]
    producer_words = _producer_short(producer, name) if producer else []
    with_producer = bool(producer_words) and (producer_needed or rng.random() < 0.35)
    # Staff who need the producer to tell a wine apart put it first, where no cut takes it.
    producer_first = producer_needed or rng.random() < 0.6
    moved = rng.random() < 0.2
    if moved and not with_producer and words[0] in ("CHATEAU", "DOMAINE") and len(words) > 1:
        words = words[1:] + ([words[0]] if rng.random() < 0.5 else [])
    extra: list[str] = []
    if colour and shout(colour) not in words and (colour_needed or rng.random() < 0.12):
        extra.append(shout(colour))
    optional = [] if colour_needed else list(extra)
    if appellation and rng.random() < 0.08:
        extra.append(shout(appellation).replace("-", " ").split()[0])
        optional.append(extra[-1])
    place = set(shout(appellation).replace("-", " ").split())

    def squeeze(ws: list[str], abbreviate: float, drop: float) -> list[str]:
        text = " ".join(ws)
        for phrase, forms in PHRASES:
            if f" {phrase} " in f" {text} " and rng.random() < abbreviate:
                text = f" {text} ".replace(f" {phrase} ", f" {rng.choice(forms)} ").strip()
        return [w for w in text.split() if w not in STOP or rng.random() > drop]

    parts = {
        "producer": squeeze(producer_words, 0.6, 0.5) if with_producer else [],
        "name": squeeze(words, 0.6, 0.5),
        "extra": extra,
    }
    every = [(key, i) for key in ("producer", "name") for i in range(len(parts[key]))]
    for key, i in every:
        if len(parts[key][i]) >= 9 and rng.random() < 0.1:
            parts[key][i] = parts[key][i][: rng.randint(4, 6)]
    long = [(k, i) for k, i in every if len(parts[k][i]) >= 5 and parts[k][i].isalpha()]
    if long and rng.random() < 0.2:
        key, i = rng.choice(long)
        parts[key][i] = _typo(parts[key][i], rng)

    def body() -> str:
        order = ["producer", "name", "extra"] if producer_first else ["name", "extra", "producer"]
        return " ".join(w for key in order for w in parts[key])

    year = ""
    if vintage is not None and rng.random() > 0.05:
        shape = rng.random()
        year = str(vintage) if shape < 0.35 else f"{vintage % 100:02d}"
        if shape >= 0.8:
            year = "'" + year
    shape_text, before = _format_words(volume, rng)
    head = shape_text if before else ""
    tail = " ".join(p for p in (year, "" if before else shape_text) if p)
    width = rng.choice((20, 24, 24, 30, 0))

    def join(text: str) -> str:
        return " ".join(p for p in (head, text, tail) if p)

    # Too long for the till: staff abbreviate everything, then give up, in turn, the words
    # they added, the producer (unless it tells the wine apart) or its first names, the
    # appellation's spelling (MEURS for MEURSAULT), the appellation when the name says more,
    # and the words that go without saying.
    steps = [
        lambda: parts.update(
            producer=squeeze(parts["producer"], 1.0, 1.0), name=squeeze(parts["name"], 1.0, 1.0)
        ),
        lambda: parts.update(extra=[w for w in parts["extra"] if w not in optional]),
        lambda: parts.update(producer=[] if not producer_needed else parts["producer"]),
        lambda: parts.update(producer=parts["producer"][-1:]),
        lambda: parts.update(
            name=[w[:5] if w in place and len(w) >= 7 else w for w in parts["name"]]
        ),
        lambda: parts.update(name=[w for w in parts["name"] if w not in place] or parts["name"]),
        lambda: parts.update(
            name=[w for w in parts["name"] if w not in WEAK_LABEL_WORDS or rng.random() < 0.4]
            or parts["name"]
        ),
    ]
    for step in steps:
        if not width or len(join(body())) <= width:
            break
        step()
    label = join(body())
    if not width or len(label) <= width:
        return label, vintage if year else None
    text = body()
    room = width - len(head) - len(tail) - (2 if head else 1)
    if rng.random() < 0.75 and room >= 6:
        return join(text[:room].rstrip()), vintage if year else None
    # A hard cut at the width: words are cut anywhere, but staff would not leave half a
    # vintage, so a vintage that does not fit goes with everything after it.
    kept: list[str] = []
    used = 0
    shown = None
    for word, kind in [
        *((w, "text") for w in f"{head} {text}".split()),
        (year, "year"),
        *((w, "text") for w in tail.split()[1 if year else 0 :]),
    ]:
        if not word:
            continue
        space = 1 if kept else 0
        if used + space + len(word) <= width:
            kept.append(word)
            used += space + len(word)
            shown = vintage if kind == "year" else shown
            continue
        if kind == "text" and width - used - space >= 2:
            kept.append(word[: width - used - space])
        break
    return " ".join(kept), shown


def _needs(wine: Wine) -> tuple[bool, bool]:
    """(colour needed, producer needed) to tell ``wine`` from another cellar wine of the
    same name."""
    same_name = [
        w
        for w in CELLAR
        if w.key != wine.key and not w.same_as and shout(w.name) == shout(wine.name)
    ]
    colour = any(w.colour != wine.colour and w.producer == wine.producer for w in same_name)
    producer = any(w.producer != wine.producer for w in same_name)
    return colour, producer


def generated_cases(seed: int, count: int) -> list[Case]:
    """``count`` labels: 62 % of a cellar vintage, 23 % of a vintage the cellar lacks,
    15 % of a wine the cellar does not have."""
    rng = random.Random(seed)
    cellar = [w for w in CELLAR if not w.same_as]
    cases = []
    for _ in range(count):
        pick = rng.random()
        wine = rng.choice(ABSENT) if pick > 0.85 else rng.choice(cellar)
        dated = [v for v in wine.vintages if v is not None]
        if pick <= 0.62 or not dated:
            vintage = rng.choice(wine.vintages)
            volume = rng.choice(wine.volumes)
        elif pick <= 0.85:
            vintage = rng.choice(
                [v for v in range(min(dated) - 3, max(dated) + 4) if v not in dated and v < 2025]
            )
            volume = 75.0
        else:
            vintage = rng.choice(wine.vintages)
            volume = rng.choice(wine.volumes)
        colour, producer = _needs(wine)
        label, shown = till_label(
            rng,
            wine.name,
            wine.producer,
            wine.appellation,
            wine.colour,
            vintage,
            volume,
            colour_needed=colour,
            producer_needed=producer,
        )
        cases.append(truth(wine, shown, volume, "generated", label))
    return cases


# -- hand-written labels ----------------------------------------------------------------------

_BY_KEY = {w.key: w for w in (*CELLAR, *ABSENT)}

# label | wine key (or "-" for a drink not in the cellar) | vintage shown ("-": none) | volume
HAND = """
CH MARGAUX 2015 | margaux | 2015 | 75
CHATEAU MARGAUX 15 MAG | margaux | 2015 | 150
MARGAUX CH. '16 | margaux | 2016 | 75
CH MARGAUX 2014 | margaux | 2014 | 75
PAVILLON RGE MARGAUX 17 | pavillon-rouge | 2017 | 75
PAV ROUGE CH MARGAUX 15 | pavillon-rouge | 2015 | 75
PAVILLON BLANC MARGAUX | pavillon-blanc | - | 75
ALTER EGO PALMER 18 | alter-ego | 2018 | 75
CH PALMER 16 | palmer | 2016 | 75
CARRUADES LAFITE 2017 | carruades | 2017 | 75
LAFITE ROTHSCHILD 10 | lafite | 2010 | 75
CH MOUTON ROTHSCHILD 2010 | mouton | 2010 | 75
PICHON BARON 16 | pichon-baron | 2016 | 75
PICHON COMTESSE 2016 | pichon-comtesse | 2016 | 75
PICHON LALANDE 15 | pichon-comtesse | 2015 | 75
LYNCH BAGES 2015 MAG | lynch-bages | 2015 | 150
LEOVILLE LAS CASES 14 | las-cases | 2014 | 75
LEOVILLE BARTON 19 | leoville-barton | 2019 | 75
LEOVILLE POYFERRE 17 | poyferre | 2017 | 75
CH TALBOT 2018 BTL | talbot | 2018 | 75
CH TALBOT 15 | talbot | 2015 | 75
COS D ESTOURNEL 16 | cos | 2016 | 75
CALON SEGUR 18 | calon | 2018 | 75
HAUT BRION 2016 | haut-brion | 2016 | 75
HT BRION BLANC 17 | haut-brion-blanc | 2017 | 75
LA MISSION HAUT BRION 12 | mission | 2012 | 75
PAPE CLEMENT 19 | pape-clement | 2019 | 75
SMITH HT LAFITTE BLC 20 | shl-blanc | 2020 | 75
DOM DE CHEVALIER 16 | chevalier | 2016 | 75
CHEVAL BLANC 2016 | cheval-blanc | 2016 | 75
ANGELUS 2015 | angelus | 2015 | 75
CH PAVIE 14 | pavie | 2014 | 75
PAVIE MACQUIN 16 | pavie-macquin | 2016 | 75
PETRUS 2011 | petrus | 2011 | 75
PETRUS 2012 | petrus | 2012 | 75
VIEUX CHATEAU CERTAN 17 | vcc | 2017 | 75
YQUEM 2009 DEMI | yquem | 2009 | 37.5
CH D YQUEM 15 | yquem | 2015 | 75
CHASSE SPLEEN 16 | chasse-spleen | 2016 | 75
CHASSE-SPLEEN VERRE | chasse-spleen | - | 75
SOCIANDO MALLET 14 | sociando | 2014 | 75
BX SUP MIRAMBEAU 20 | bx-sup | 2020 | 75
VRE BORDEAUX SUP 19 | bx-sup | 2019 | 75
CHABLIS FEVRE 21 | fevre-chablis | 2021 | 75
CHABLIS W FEVRE 2023 | fevre-chablis | 2023 | 75
CHABLIS 1ER MONTEE TONNERRE 20 | fevre-mdt | 2020 | 75
CHABLIS GC LES CLOS FEVRE 18 | fevre-clos | 2018 | 75
RAVENEAU LES CLOS 17 | raveneau-clos | 2017 | 75
CHABLIS VAILLONS 20 | vaillons | 2020 | 75
PULIGNY MONT. LEFLAIVE 19 | leflaive-puligny | 2019 | 75
LEFLAIVE PUCELLES 2019 | pucelles | 2019 | 75
PULIGNY 1ER FOLATIERES 18 | folatieres | 2018 | 75
BOURGOGNE BLC LEFLAIVE 21 | leflaive-bourgogne | 2021 | 75
MEURSAULT ROULOT 19 | roulot-meursault | 2019 | 75
MEURS. PERRIERES ROULOT 18 | roulot-perrieres | 2018 | 75
MEURSAULT CHARMES LAFON 17 | lafon-charmes | 2017 | 75
CORTON CHARLEMAGNE 16 | corton-charlemagne | 2016 | 75
CHASSAGNE MORGEOT RGE 18 | morgeot-rouge | 2018 | 75
CHASSAGNE MORGEOT BLC 19 | morgeot-blanc | 2019 | 75
GEVREY VV MORTET 17 | mortet-gevrey | 2017 | 75
GEVREY CHAMBERTIN ROUSSEAU 18 | rousseau-gevrey | 2018 | 75
CHAMBERTIN GC ROUSSEAU 15 | chambertin | 2015 | 75
CLOS VOUGEOT MEO 16 | clos-vougeot | 2016 | 75
VOSNE ROMANEE MEO CAMUZET 19 | meo-vosne | 2019 | 75
CHAMBOLLE AMOUREUSES 15 | amoureuses | 2015 | 75
MOREY ST DENIS DUJAC 18 | dujac-morey | 2018 | 75
CLOS DE LA ROCHE DUJAC 14 | clos-roche | 2014 | 75
NUITS ST GEORGES VAUCRAINS | vaucrains | - | 75
POMMARD RUGIENS 17 | rugiens | 2017 | 75
VOLNAY CLOS DES CHENES 18 | clos-chenes | 2018 | 75
SAVIGNY LES BEAUNE BIZE 20 | bize-savigny | 2020 | 75
MACON VILLAGES LAFON 22 | lafon-macon | 2022 | 75
POUILLY FUISSE FERRET 20 | ferret-pouilly | 2020 | 75
ST VERAN 22 VERRE | saint-veran | 2022 | 75
ALIGOTE VILLAINE 21 | villaine-aligote | 2021 | 75
MORGON COTE DU PY 20 | foillard-py | 2020 | 75
MORGON PY FOILLARD MAG 19 | foillard-py | 2019 | 150
MORGON CORCELETTE 20 | foillard-corcelette | 2020 | 75
FLEURIE METRAS 21 | fleurie | 2021 | 75
MOULIN A VENT JACQUES 18 | moulin-a-vent | 2018 | 75
CDR GUIGAL 2020 | guigal-cdr | 2020 | 75
VRE CDR ROUGE GUIGAL 19 | guigal-cdr | 2019 | 75
CDR BLANC GUIGAL 21 | guigal-cdr-blanc | 2021 | 75
COTE ROTIE BRUNE BLONDE 17 | brune-blonde | 2017 | 75
GUIGAL LA LANDONNE 15 | landonne | 2015 | 75
GUIGAL LA MOULINE 16 | mouline | 2016 | 75
CONDRIEU DORIANE 20 | doriane | 2020 | 75
HERMITAGE LA CHAPELLE 15 | la-chapelle | 2015 | 75
CROZES THALABERT 19 | thalabert | 2019 | 75
CROZES GRAILLOT 20 | graillot | 2020 | 75
ST JOSEPH GONON 19 | gonon | 2019 | 75
CORNAS CLAPE 17 | clape | 2017 | 75
CHATEAUNEUF BEAUCASTEL 16 | beaucastel | 2016 | 75
CDP BEAUCASTEL 2019 MAG | beaucastel | 2019 | 150
BEAUCASTEL ROUSSANNE VV 19 | beaucastel-rvv | 2019 | 75
VIEUX TELEGRAPHE 18 | telegraphe | 2018 | 75
PEGAU RESERVEE 19 | pegau | 2019 | 75
CH RAYAS 2010 | rayas | 2010 | 75
GIGONDAS SANTA DUC 18 | santa-duc | 2018 | 75
CAIRANNE RICHAUD 21 | cairanne | 2021 | 75
TAVEL AQUERIA 23 | tavel | 2023 | 75
SANCERRE BLANC VACHERON 22 | vacheron-blanc | 2022 | 75
SANCERRE ROUGE VACHERON 20 | vacheron-rouge | 2020 | 75
SANCERRE MONTS DAMNES COTAT | cotat | - | 75
SILEX DAGUENEAU 18 | silex | 2018 | 75
POUILLY FUME PABIOT 22 | pabiot | 2022 | 75
COULEE DE SERRANT 17 | coulee | 2017 | 75
VOUVRAY HT LIEU SEC HUET 20 | huet-sec | 2020 | 75
HUET LE MONT DEMI SEC 18 | huet-demi-sec | 2018 | 75
CHINON PICASSES 15 | picasses | 2015 | 75
MUSCADET SUR LIE VERRE | muscadet | - | 75
MENETOU SALON PELLE 22 | pelle | 2022 | 75
CLOS STE HUNE 12 | sainte-hune | 2012 | 75
FREDERIC EMILE 15 | frederic-emile | 2015 | 75
GEWURZ VT TRIMBACH 15 | trimbach-vt | 2015 | 37.5
PINOT GRIS SGN ZIND 11 | zind-sgn | 2011 | 37.5
CREMANT ALSACE VERRE | cremant | - | 75
CHARLES HEIDSIECK BRUT RES | charles-reserve | - | 75
MOET IMPERIAL MAG | moet-imperial | - | 150
MOET ROSE IMPERIAL | moet-rose | - | 75
DOM PERIGNON 2012 | dom-perignon | 2012 | 75
DOM PERIGNON 2015 | dom-perignon | 2015 | 75
DOM PERIGNON ROSE 08 | dom-perignon-rose | 2008 | 75
KRUG GDE CUVEE | krug-gc | - | 75
KRUG VINTAGE 2008 | krug-vintage | 2008 | 75
BOLLINGER SPECIAL CUVEE 1/2 | bollinger-sc | - | 37.5
BOLLINGER GDE ANNEE 14 | bollinger-ga | 2014 | 75
VEUVE CLICQUOT BRUT | clicquot | - | 75
VVE CLICQUOT DEMI | clicquot | - | 37.5
RUINART BDB | ruinart-bdb | - | 75
DOM RUINART 2010 | dom-ruinart | 2010 | 75
RUINART ROSE | ruinart-rose | - | 75
COMTES DE CHAMPAGNE 13 | comtes | 2013 | 75
TAITTINGER BRUT RESERVE | taittinger-reserve | - | 75
CRISTAL 2014 | cristal | 2014 | 75
CRISTAL ROEDERER 2013 | cristal | 2013 | 75
ROEDERER COLLECTION 243 | collection | - | 75
BILLECART ROSE | billecart-rose | - | 75
POL ROGER WINSTON CHURCHILL 12 | churchill | 2012 | 75
POL ROGER RESERVE | polroger-reserve | - | 75
SELOSSE INITIAL | selosse | - | 75
EGLY OURIET TRADITION | egly | - | 75
LAURENT PERRIER ROSE | lp-rose | - | 75
SALON 2013 | salon | 2013 | 75
BANDOL TEMPIER RGE 19 | tempier-rouge | 2019 | 75
TEMPIER ROSE 23 | tempier-rose | 2023 | 75
WHISPERING ANGEL 23 | whispering | 2023 | 75
CH SIMONE BLANC 19 | simone-blanc | 2019 | 75
MAS DAUMAS GASSAC 18 | daumas | 2018 | 75
TREVALLON 2017 | trevallon | 2017 | 75
CAHORS LE CEDRE 16 | cedre | 2016 | 75
MONTUS 15 | montus | 2015 | 75
JURANCON SEC MARIE 20 | hours | 2020 | 75
CHATEAU CHALON MACLE 13 | macle | 2013 | 62
GRANGE DES PERES 17 | grange-peres | 2017 | 75
PIC ST LOUP HORTUS 21 | hortus | 2021 | 75
TARIQUET CLASSIC VERRE | tariquet | - | 75
TIGNANELLO 19 | tignanello | 2019 | 75
SASSICAIA 2016 | sassicaia | 2016 | 75
BAROLO ALESTE SANDRONE 16 | sandrone | 2016 | 75
MONFORTINO 2013 | monfortino | 2013 | 75
BAROLO CASCINA FRANCIA 16 | cascina-francia | 2016 | 75
BRUNELLO BIONDI SANTI 15 | biondi-santi | 2015 | 75
AMARONE QUINTARELLI 12 | quintarelli | 2012 | 75
RIOJA ALTA 904 2015 | rioja-904 | 2015 | 75
VINA ARDANZA 16 | ardanza | 2016 | 75
VEGA SICILIA UNICO 2011 | vega | 2011 | 75
PRUM WEHLENER KABINETT 19 | prum | 2019 | 75
OPUS ONE 2017 | opus | 2017 | 75
RIDGE MONTE BELLO 14 | monte-bello | 2014 | 75
CLOUDY BAY SAUV BLANC 23 | cloudy-bay | 2023 | 75
PENFOLDS GRANGE 15 | grange | 2015 | 75
CATENA ALTA MALBEC 19 | catena | 2019 | 75
TAYLORS VINTAGE PORT 2017 | taylor-vintage | 2017 | 75
TAYLOR TAWNY 20 ANS | taylor-tawny | - | 75
TOKAJI 5 PUTTONYOS 13 | tokaji | 2013 | 50
CH LATOUR 2016 | latour | 2016 | 75
FORTS DE LATOUR 15 | forts-latour | 2015 | 75
DUCRU BEAUCAILLOU 16 | ducru | 2016 | 75
BRANE CANTENAC 18 | brane | 2018 | 75
GISCOURS 2015 | giscours | 2015 | 75
PONTET CANET 16 | pontet | 2016 | 75
PETIT CHEVAL 16 | petit-cheval | 2016 | 75
RIEUSSEC 15 DEMI | rieussec | 2015 | 37.5
LA TACHE DRC 15 | la-tache | 2015 | 75
COCHE DURY MEURSAULT 17 | coche-meursault | 2017 | 75
RAVENEAU MONTEE TONNERRE 18 | raveneau-mdt | 2018 | 75
HERMITAGE CHAVE 15 | chave | 2015 | 75
KRUG CLOS DU MESNIL 06 | clos-mesnil | 2006 | 75
BOLLINGER RD 2007 | bollinger-rd | 2007 | 75
JACQUESSON 745 | jacquesson | - | 75
ORNELLAIA 16 | ornellaia | 2016 | 75
GAJA BARBARESCO 17 | gaja | 2017 | 75
CH MUSAR 2012 | musar | 2012 | 75
MORGON LAPIERRE 20 | lapierre | 2020 | 75
GIGONDAS ST COSME 19 | saint-cosme | 2019 | 75
VIEUX DONJON CDP 17 | vieux-donjon | 2017 | 75
COCA COLA 33CL | - | - | 33
PERRIER 33CL | - | - | 33
EAU PLATE 1L | - | - | 100
CAFE SERRE | - | - | -
BIERE PRESSION 25CL | - | - | 25
KIR VIN BLANC | - | - | -
PASTIS 51 | - | - | -
PLANCHE MIXTE | - | - | -
SPRITZ APEROL | - | - | -
JUS D ORANGE | - | - | -
"""


def hand_cases() -> list[Case]:
    cases = []
    for line in HAND.strip().splitlines():
        label, key, vintage, volume = (cell.strip() for cell in line.split("|"))
        if key == "-":
            cases.append(Case(label, "no", source="hand", note="not wine"))
            continue
        shown = None if vintage == "-" else int(vintage)
        size = None if volume == "-" else float(volume)
        cases.append(truth(_BY_KEY[key], shown, size, "hand", label))
    return cases


@cache
def tuning() -> tuple[Case, ...]:
    """For choosing the engine's constants."""
    return (*generated_cases(101, 500), *hand_cases()[0::2])


@cache
def held_out() -> tuple[Case, ...]:
    """For judging the engine: another seed, the other half of the hand-written labels."""
    return (*generated_cases(202, 500), *hand_cases()[1::2])


# -- judging ----------------------------------------------------------------------------------


@dataclass
class Scores:
    """Accuracies of a set of answers, and the cases that went wrong."""

    yes: int = 0
    yes_top1: int = 0
    almost: int = 0
    almost_wine: int = 0
    total: int = 0
    answers_right: int = 0
    wrong: list[tuple[Case, str, str]] = field(default_factory=list)

    @property
    def top1_yes(self) -> float:
        return self.yes_top1 / self.yes if self.yes else 1.0

    @property
    def wine_almost(self) -> float:
        return self.almost_wine / self.almost if self.almost else 1.0

    @property
    def answer_accuracy(self) -> float:
        return self.answers_right / self.total if self.total else 1.0

    def summary(self) -> str:
        return (
            f"top-1 on yes {self.top1_yes:.1%} ({self.yes_top1}/{self.yes}), right wine on"
            f" almost {self.wine_almost:.1%} ({self.almost_wine}/{self.almost}), answer"
            f" {self.answer_accuracy:.1%} ({self.answers_right}/{self.total})"
        )


def judge(
    cases: Sequence[Case],
    firsts: Sequence[tuple[str | None, Answer]],
    wine_of_item: Callable[[str], str | None],
) -> Scores:
    """Score (first item, answer) per case: top-1 item on yes labels, right wine of the first
    item on almost labels, right answer overall (no item counts as ``no``)."""
    scores = Scores()
    for case, (item, answer) in zip(cases, firsts, strict=True):
        scores.total += 1
        wine = wine_of_item(item) if item is not None else None
        if case.answer == "yes":
            scores.yes += 1
            scores.yes_top1 += item in case.items
        elif case.answer == "almost":
            scores.almost += 1
            scores.almost_wine += wine in case.wines
        if answer == case.answer:
            scores.answers_right += 1
        else:
            scores.wrong.append((case, answer, f"{item} ({wine})"))
    return scores


def first(suggestions: list[Suggestion]) -> tuple[str | None, Answer]:
    """The proposed (item, answer) of a suggestion list: no suggestion means ``no``."""
    return (suggestions[0].item, suggestions[0].answer) if suggestions else (None, "no")
